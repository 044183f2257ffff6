// A release step's one-off container against the real Engine (agent/docker/one-off.ts): how it
// ended (exit code, output tail, timeout), that it is removed whatever happened (SIGTERM too), and
// the ownership rules of its name. No daemon: the docker/ operation the deploy calls.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../agent/config/load.js";
import { oneOffCreateOptions } from "../../agent/deploy/one-off.js";
import { AgentError } from "../../agent/errors.js";
import { TEST_RUN_LABEL } from "../support/images.js";
import { ownedEngineSuite } from "../support/owned-engine.js";

const t = ownedEngineSuite("hk-oneoff");
const { run, docker, me } = t;

/** The spec of `app`'s predeploy running `sh -c script`, as the deploy builds it. */
function spec(app: string, script: string) {
  const c = parseConfig(`apps:\n  ${app}: { image: x/y, port: 8000, health: { path: /h }, env: { WHO: hk }, labels: { ${TEST_RUN_LABEL}: "${run}" }, predeploy: { command: ["sh", "-c", ${JSON.stringify(script)}] } }\n`);
  return oneOffCreateOptions(app, c.apps[app]!, "predeploy", { deployId: "5", version: "v9", digest: `sha256:${"b".repeat(64)}`, imageRef: t.image });
}

const opts = { timeoutMs: 20_000, tailLines: 3, label: "the predeploy" };

async function gone(name: string): Promise<boolean> {
  return docker
    .getContainer(name)
    .inspect()
    .then(
      () => false,
      () => true,
    );
}

describe("a one-off container", () => {
  // The pause before the line on stderr keeps the two streams' lines in order in the Engine's log.
  it("reports the exit code and the last output lines of stdout and stderr, cleaned, and is removed", async () => {
    const app = `hk-oo-exit-${run}`;
    const r = await t.engine.runOneOff(app, spec(app, 'echo one; echo "two $WHO"; printf "\\033[31mthree\\n"; sleep 0.1; echo four >&2; exit 3'), [], opts);
    expect(r).toMatchObject({ exitCode: 3, timedOut: false, output: "two hk\nthree\nfour" });
    expect(r.output).not.toContain("\u001b");
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
    expect(await gone(`${app}-predeploy`)).toBe(true);
  });

  it("is killed at its timeout, reported as timed out, and removed", async () => {
    const app = `hk-oo-hang-${run}`;
    const r = await t.engine.runOneOff(app, spec(app, "echo waiting; exec sleep 60"), [], { ...opts, timeoutMs: 1_000 });
    expect(r).toMatchObject({ exitCode: 137, timedOut: true, output: "waiting" });
    expect(await gone(`${app}-predeploy`)).toBe(true);
  });

  it("is killed and removed when the agent stops (its signal aborts), with DEPLOY_ABORTED", async () => {
    const app = `hk-oo-stop-${run}`;
    const stop = new AbortController();
    const work = t.engine.runOneOff(app, spec(app, "exec sleep 60"), [], { ...opts, signal: stop.signal });
    for (let i = 0; i < 100 && !(await docker.getContainer(`${app}-predeploy`).inspect().then((c) => c.State.Running, () => false)); i++) await new Promise((r) => setTimeout(r, 100));
    stop.abort("the agent is stopping (SIGTERM)");
    const err = await work.then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect([(err as AgentError).code, (err as AgentError).message]).toEqual(["DEPLOY_ABORTED", "the predeploy was stopped and removed: the agent is stopping (SIGTERM)"]);
    expect(await gone(`${app}-predeploy`)).toBe(true);
  });

  it("replaces a leftover of this agent's under its name, and refuses to touch anyone else's (CONTAINER_CONFLICT)", async () => {
    const app = `hk-oo-name-${run}`;
    const leftover = await docker.createContainer({ ...spec(app, "true"), Labels: { ...spec(app, "true").Labels, "deploy-agent.owner": me.agentId } });
    expect((await t.engine.runOneOff(app, spec(app, "exit 0"), [], opts)).exitCode).toBe(0);
    expect(await gone(leftover.id)).toBe(true);

    const foreign = await docker.createContainer({ name: `${app}-predeploy`, Image: t.image, Labels: { [TEST_RUN_LABEL]: run } });
    const err = await t.engine.runOneOff(app, spec(app, "exit 0"), [], opts).then(() => undefined, (e: unknown) => e);
    expect((err as AgentError).code).toBe("CONTAINER_CONFLICT");
    expect(await gone(foreign.id)).toBe(false);
  });
});
