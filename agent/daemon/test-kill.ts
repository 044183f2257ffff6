// TEST ONLY: stops the daemon dead (SIGKILL, as a power cut or `kill -9` would) at a named step
// boundary of a deploy, so the fault-matrix stories can kill it at exactly that point. Nothing in
// production sets DEPLOY_AGENT_TEST_KILL_AT (install.sh and the systemd unit never do); the daemon
// says loudly at start when it is set. Documented in docs/reliability.md.
import { AgentError } from "../errors.js";
import type { Logger } from "../log.js";
import { STEP_NAMES, type StepName } from "../state/schema.js";

export const TEST_KILL_ENV = "DEPLOY_AGENT_TEST_KILL_AT";

export interface KillPoint {
  step: StepName;
  phase: "start" | "end";
  /** Killed the n-th time the boundary is reached (1 = the first). */
  nth: number;
}

/** `<step>:<start|end>[:<n>]`, or a clear error naming the variable and what it expects. */
export function parseKillPoint(value: string): KillPoint {
  const [step, phase, nth = "1", ...rest] = value.split(":");
  const n = Number(nth);
  if (!STEP_NAMES.includes(step as StepName) || (phase !== "start" && phase !== "end") || !Number.isInteger(n) || n < 1 || rest.length > 0) {
    throw new AgentError(
      "CONFIG_INVALID",
      `${TEST_KILL_ENV}: "${value}" is not <step>:<start|end>[:<n>] with a step of ${STEP_NAMES.join(", ")} and n ≥ 1`,
      { hint: `it is for tests only: unset ${TEST_KILL_ENV}` },
    );
  }
  return { step: step as StepName, phase, nth: n };
}

/** The boundary hook for the deploy, or undefined when the variable is not set (always, in production). */
export function testKillHook(env: NodeJS.ProcessEnv, log: Logger): ((step: StepName, phase: "start" | "end") => void) | undefined {
  const value = env[TEST_KILL_ENV];
  if (value === undefined || value === "") return undefined;
  const point = parseKillPoint(value);
  log.warn(
    { [TEST_KILL_ENV]: value },
    `TEST ONLY: ${TEST_KILL_ENV} is set; this daemon kills itself with SIGKILL at step ${point.step} ${point.phase} (time ${point.nth}). Never set it outside tests`,
  );
  let seen = 0;
  return (step, phase) => {
    if (step !== point.step || phase !== point.phase) return;
    seen += 1;
    if (seen !== point.nth) return;
    log.warn({ step, phase }, `TEST ONLY: ${TEST_KILL_ENV} reached; SIGKILL now`);
    process.kill(process.pid, "SIGKILL");
  };
}
