// The daemon is killed with SIGKILL in the middle of a deploy and started again: exactly one slot
// serves and the state file is valid, whether the deploy had switched traffic yet or not.
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { State } from "../../agent/state/schema.js";
import { agentctl, type AgentProcess, agentYaml, makeAgentDir, readState, removeDir, servedVersion, sleep, startAgent, storyApp, waitFor, writeConfig } from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { publishVersion, testRunId } from "../support/images.js";
import { startTraefikModel } from "../support/traefik-model.js";

const run = testRunId();
const docker = new Dockerode();
let traefik: Awaited<ReturnType<typeof startTraefikModel>>;
const dirs: string[] = [];
const agents: AgentProcess[] = [];

function config(dir: string, app: string): string {
  return agentYaml(dir, storyApp(app, `127.0.0.1:5000/stories/${app}`, run, { drain: "8s", network: `da-net-${run}` }));
}

async function runningNames(app: string): Promise<string[]> {
  const list = await docker.listContainers({ filters: { label: [`deploy-agent.app=${app}`] } });
  return list.map((c) => c.Names[0]!.replace(/^\//, "")).sort();
}

const serving = (app: string) => servedVersion(traefik.url, `${app}.test`);

/** Waits until the running deploy of `app` is in `step`, read from the state file the daemon writes. */
async function inStep(agent: AgentProcess, app: string, step: string): Promise<string> {
  return waitFor(`the deploy to reach ${step}`, () => {
    const s = readState(agent) as { apps?: Record<string, { history: { id: string; outcome: string; steps: { name: string; endedAt?: string }[] }[] }> } | undefined;
    const r = s?.apps?.[app]?.history[0];
    const last = r?.steps.at(-1);
    return r?.outcome === "running" && last?.name === step && last.endedAt === undefined ? r.id : undefined;
  }, 90_000, 50);
}

/** A fresh daemon in its own dir, with `app` deployed and v1 serving. */
async function servingV1(app: string): Promise<{ dir: string; agent: AgentProcess }> {
  const dir = makeAgentDir();
  dirs.push(dir);
  writeConfig(dir, config(dir, app));
  await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "good", version: "v1" });
  const agent = await startAgent(dir);
  agents.push(agent);
  await waitFor("v1 to serve", async () => (await serving(app)) === "v1", 60_000);
  return { dir, agent };
}

beforeAll(async () => {
  traefik = await startTraefikModel({ docker });
});

afterAll(async () => {
  for (const a of agents) await a.stop("SIGKILL");
  await traefik?.close();
  await cleanupTestRun();
  for (const d of dirs) removeDir(d);
});

describe("the daemon killed in the middle of a deploy", () => {
  const cases = [
    { step: "start", expectServing: "v1", outcome: "aborted", why: "before the switch, green is removed and blue keeps serving" },
    { step: "drain", expectServing: "v2", outcome: "succeeded", why: "after the switch, the deploy is finished and blue removed" },
  ] as const;

  for (const c of cases) {
    it(`leaves exactly one slot serving when killed during ${c.step}: ${c.why}`, async () => {
      const app = `crash-${c.step}-${run}`;
      const started = await servingV1(app);
      const dir = started.dir;
      let agent = started.agent;

      // v2 takes 5 s to start, which leaves time to kill the daemon while green is starting.
      await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "slow", version: "v2", delaySec: 5 });
      const interrupted = await inStep(agent, app, c.step);
      agent.child.kill("SIGKILL");
      await agent.exited;

      agent = await startAgent(dir);
      agents.push(agent);
      await waitFor("one slot to serve", async () => (await runningNames(app)).length === 1, 60_000);
      expect(await runningNames(app)).toHaveLength(1);
      await waitFor(`${c.expectServing} to serve`, async () => (await serving(app)) === c.expectServing, 30_000);

      const parsed = State.safeParse(readState(agent));
      expect(parsed.success).toBe(true);
      const record = parsed.data!.apps[app]!.history.find((r) => r.id === interrupted);
      expect(record?.outcome, JSON.stringify(parsed.data!.apps[app]!.history, null, 1)).toBe(c.outcome);

      // The agent goes on working: the status answers and no deploy is left running.
      const st = await agentctl(agent, ["status", app], { json: true });
      expect(st.code, st.stderr).toBe(0);
      if (c.outcome === "aborted") {
        // The interrupted digest was not a failure: the next poll deploys it again, and it succeeds.
        await waitFor("v2 to serve after the retry", async () => (await serving(app)) === "v2", 90_000);
        await waitFor("the retry to remove blue", async () => (await runningNames(app)).length === 1, 60_000);
      }
      await agent.stop();
      await sleep(100);
    });
  }

  it("stops at a safe point on SIGTERM: green is removed, blue keeps serving, and the digest is not marked failed", async () => {
    const app = `term-${run}`;
    const started = await servingV1(app);
    const dir = started.dir;
    let agent = started.agent;
    await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "slow", version: "v2", delaySec: 20 });
    const interrupted = await inStep(agent, app, "start");

    // A second deploy of the same app is refused at once, naming the one that runs and its step.
    const second = await agentctl(agent, ["deploy", app]);
    expect(second.code).toBe(3);
    expect(second.stderr).toContain(`deploy of ${app} already running (id ${interrupted}, latest, step start)`);

    agent.child.kill("SIGTERM");
    expect(await agent.exited).toBe(0);
    expect(await runningNames(app)).toEqual([`${app}-blue`]);
    expect(await serving(app)).toBe("v1");
    const state = State.parse(readState(agent));
    const record = state.apps[app]!.history.find((r) => r.id === interrupted);
    expect(record).toMatchObject({ outcome: "aborted", error: { code: "DEPLOY_ABORTED" } });
    // The record says why it stopped, and the step it stopped in has an end.
    expect(record!.error!.message).toContain("the agent is stopping (SIGTERM)");
    expect(record!.steps.at(-1)).toMatchObject({ name: "start", endedAt: record!.endedAt, detail: "aborted (DEPLOY_ABORTED)" });
    // The journal said at once what the shutdown waits for.
    expect(agent.lines.some((l) => l.includes(`waiting for deploy ${interrupted} of ${app} to stop at its next safe point (it is in step start), up to 100 s`))).toBe(true);
    expect(state.apps[app]!.skip).toEqual([]);
    expect(agent.lines.some((l) => l.includes('"deploy-agent stopped"'))).toBe(true);

    // Started again, it reconciles nothing away and stays on v1 until the next poll retries v2.
    agent = await startAgent(dir);
    agents.push(agent);
    expect((await runningNames(app)).length).toBeGreaterThanOrEqual(1);
    expect(await serving(app)).toBe("v1");
    await agent.stop();
  });
});
