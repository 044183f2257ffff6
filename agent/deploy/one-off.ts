// Release steps (docs/design.md#release-steps): `predeploy` runs the app's command in a one-off
// container of the new release after the pull and before green is created, so migrations are done
// before new code takes traffic; `postdeploy` runs after the switch and never undoes it. Each
// one-off sees what green sees (env, envFile, volumes, networks) and is removed when it ends.
import type { AppConfig, ReleaseStepConfig } from "../config/schema.js";
import type { ContainerSpec } from "../docker/engine.js";
import { NO_HEALTHCHECK } from "../docker/healthcheck.js";
import { AgentError, toAgentError } from "../errors.js";
import { AGENT_LABELS, type OneOffRole } from "../labels.js";
import { hookFailureWords } from "../state/describe.js";
import type { HookRun } from "../state/schema.js";
import { allNetworks, releaseContainerOptions, type GreenRelease } from "./plan.js";
import { short, updateRecord, type Run } from "./run.js";
import { readEnvFile } from "./steps.js";

/** How many of the command's last output lines the record keeps (bounded to 4 KB by docker/ as well). */
export const HOOK_OUTPUT_LINES = 20;

/** `<app>-predeploy`, `<app>-postdeploy`: one at a time per app, as the deploy lock allows. */
export function oneOffName(app: string, role: OneOffRole): string {
  return `${app}-${role}`;
}

/**
 * Create options of a release step's one-off: the release's (plan.ts), minus what only a server
 * needs: no slot, no Traefik labels, no exposed port, no health check (the image's own HEALTHCHECK
 * is turned off: the command's exit is what counts). The role label keeps it out of the
 * slots and lets reconcile remove it when the agent stopped while it ran.
 */
export function oneOffCreateOptions(appName: string, app: AppConfig, role: OneOffRole, release: GreenRelease, fileEnv: Record<string, string> = {}): ContainerSpec {
  const step = app[role];
  if (!step) throw new AgentError("INTERNAL", `apps.${appName}.${role} is not configured, so there is nothing to run`);
  const container = { name: oneOffName(appName, role), labels: { [AGENT_LABELS.role]: role }, healthcheck: NO_HEALTHCHECK, cmd: step.command };
  return releaseContainerOptions(appName, app, release, container, fileEnv);
}

/**
 * Runs `predeploy` from the new release's image. A non-zero exit or a timeout is PREDEPLOY_FAILED:
 * a fault of the release, raised before green exists, so nothing of it ever served.
 */
export async function predeploy(run: Run): Promise<string> {
  const cfg = run.app.predeploy;
  if (!cfg) return "not configured";
  const hook = await runHook(run, "predeploy", cfg);
  const failure = hookFailureWords(hook, cfg.timeout);
  if (!failure) return `${commandWords(cfg)} exited 0 after ${seconds(hook)}`;
  const lastLine = hook.output.split("\n").filter((l) => l.trim() !== "").at(-1);
  throw new AgentError(
    "PREDEPLOY_FAILED",
    `the predeploy of ${run.target.app} ${run.target.version} (${commandWords(cfg)}) ${failure}${lastLine ? `; its last line: ${lastLine}` : ""}; nothing of the new release was started and the previous release keeps serving`,
    {
      hint: `its last output lines are in "agentctl history --json" (hooks.predeploy); polling skips ${short(run.digest)}: fix the release and push it again, or "agentctl deploy ${run.target.app} <tag>" to try it by hand`,
    },
  );
}

/**
 * Runs `postdeploy` after the switch. It never throws: the new release serves and stays live
 * whatever happens here; a failure is recorded in the step's detail and hooks.postdeploy, and kept
 * for the `postdeploy-failed` notification.
 */
export async function postdeploy(run: Run): Promise<string> {
  const cfg = run.app.postdeploy;
  if (!cfg) return "not configured";
  try {
    const hook = await runHook(run, "postdeploy", cfg);
    const failure = hookFailureWords(hook, cfg.timeout);
    if (!failure) return `${commandWords(cfg)} exited 0 after ${seconds(hook)}`;
    if (run.notes) run.notes.postdeploy = { hook };
    run.log.warn({ exitCode: hook.exitCode, timedOut: hook.timedOut }, "the postdeploy command failed; the new release stays live");
    return `${commandWords(cfg)} ${failure}; the new release stays live (postdeploy never rolls back)`;
  } catch (err) {
    const e = toAgentError(err);
    // Stopped by the agent's own SIGTERM: like any deploy cut off by a stop, nothing is sent for it.
    if (run.notes && e.code !== "DEPLOY_ABORTED") run.notes.postdeploy = { error: e.toJSON() };
    run.log.warn({ code: e.code, err: e.message }, "the postdeploy command could not run; the new release stays live");
    return `${commandWords(cfg)} could not run: ${e.message}; the new release stays live`;
  }
}

/** Runs the one-off to its end (docker/ removes it) and records how it ended in the deploy record. */
async function runHook(run: Run, role: OneOffRole, cfg: ReleaseStepConfig): Promise<HookRun> {
  const { engine } = run.deps;
  const fileEnv = run.app.envFile ? await readEnvFile(run.target.app, run.app.envFile) : {};
  const nets = allNetworks(run.app);
  for (const net of nets) await engine.ensureNetwork(net);
  const release = { deployId: run.id, version: run.target.version, digest: run.digest, imageRef: run.imageRef ?? run.imageId ?? "" };
  const spec = oneOffCreateOptions(run.target.app, run.app, role, release, fileEnv);
  const r = await engine.runOneOff(run.target.app, spec, nets.slice(1), {
    timeoutMs: cfg.timeout,
    tailLines: HOOK_OUTPUT_LINES,
    label: `the ${role} of ${run.target.app} (${commandWords(cfg)})`,
    signal: run.target.signal,
  });
  const hook: HookRun = { exitCode: r.exitCode, timedOut: r.timedOut, output: r.output, ...(r.durationMs !== undefined ? { durationMs: r.durationMs } : {}) };
  await updateRecord(run, (rec) => {
    rec.hooks = { ...rec.hooks, [role]: hook };
  });
  return hook;
}

function commandWords(cfg: ReleaseStepConfig): string {
  return cfg.command.join(" ");
}

function seconds(h: HookRun): string {
  return h.durationMs === undefined ? "?" : `${(h.durationMs / 1000).toFixed(1)}s`;
}
