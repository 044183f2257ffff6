// Fault matrix, `kill -9` cells: the daemon SIGKILLs itself (test-only DEPLOY_AGENT_TEST_KILL_AT)
// at every step boundary of a deploy and of a rollback, and is started again. Requests through the
// routing model never fail, one slot serves, the state tells the truth, nothing is orphaned, and
// the agent deploys again without help. Cells run one after another, each with its own daemon dir.
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STEP_NAMES } from "../../agent/state/schema.js";
import { agentctl, agentYaml, makeAgentDir, removeDir, requestLoop, servedVersion, startAgent, storyApp, waitFor, writeConfig, type AgentProcess } from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { expectSettledTruth, parsedState, settled } from "../support/fault-matrix.js";
import { publishVersion, testRunId } from "../support/images.js";
import { startTraefikModel } from "../support/traefik-model.js";

const run = testRunId();
/** A cell runs two or three deploys and a restart; on a busy 2-core runner that takes minutes. */
const CELL_MS = 360_000;
const docker = new Dockerode();
let traefik: Awaited<ReturnType<typeof startTraefikModel>>;
const dirs: string[] = [];
const agents: AgentProcess[] = [];

beforeAll(async () => {
  traefik = await startTraefikModel({ docker });
});

afterAll(async () => {
  for (const a of agents) await a.stop("SIGKILL");
  await traefik?.close();
  await cleanupTestRun();
  for (const d of dirs) removeDir(d);
});

const serving = (app: string) => servedVersion(traefik.url, `${app}.test`);

async function start(dir: string, env: NodeJS.ProcessEnv = {}): Promise<AgentProcess> {
  const agent = await startAgent(dir, { env });
  agents.push(agent);
  return agent;
}

/** A daemon set to kill itself at the `nth` crossing of `point`, with v1 of `app` serving. */
async function cell(app: string, point: string, nth: number): Promise<{ dir: string; agent: AgentProcess }> {
  const dir = makeAgentDir("c8-kill-");
  dirs.push(dir);
  writeConfig(dir, agentYaml(dir, storyApp(app, `127.0.0.1:5000/stories/${app}`, run, { drain: "1s", settle: "3s", network: `c8-net-${run}` })));
  await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "good", version: "v1" });
  const agent = await start(dir, { DEPLOY_AGENT_TEST_KILL_AT: `${point}:${nth}` });
  await waitFor("v1 to serve", async () => (await serving(app)) === "v1", 90_000);
  return { dir, agent };
}

/** Restarts the killed daemon without the switch and checks the cell's end state. */
async function afterKill(dir: string, killed: AgentProcess, app: string): Promise<AgentProcess> {
  expect(await killed.exited).toBe(-1);
  expect(killed.lines.some((l) => l.includes("DEPLOY_AGENT_TEST_KILL_AT reached"))).toBe(true);
  const agent = await start(dir);
  await settled(docker, agent, app);
  return agent;
}

const boundaries = STEP_NAMES.flatMap((step) => (["start", "end"] as const).map((phase) => `${step}:${phase}`));

// Cells are independent (an app, a daemon and a state file each), so they run a few at once.
describe.concurrent("kill -9 at every step boundary of a deploy", () => {
  for (const point of boundaries) {
    it(`keeps serving and deploys again after the daemon is killed at ${point} of a deploy`, async () => {
      const app = `c8-kd-${point.replace(":", "-")}-${run}`;
      const { dir, agent: first } = await cell(app, point, 2);
      const loop = requestLoop(traefik.url, `${app}.test`);
      await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "good", version: "v2" });
      const agent = await afterKill(dir, first, app);
      // An undone deploy was not the release's fault: the next poll deploys v2 again by itself.
      await waitFor("v2 to serve", async () => (await serving(app)) === "v2", 90_000);
      await settled(docker, agent, app);
      await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "good", version: "v3" });
      await waitFor("v3 to serve", async () => (await serving(app)) === "v3", 90_000);
      await settled(docker, agent, app);
      const seen = await loop.stop();
      expect(seen.failed, JSON.stringify(seen.failed.slice(0, 5))).toEqual([]);
      const state = await expectSettledTruth(docker, agent, app);
      expect(state.apps[app]!.skip).toEqual([]);
      await agent.stop();
    }, CELL_MS);
  }
});

describe.concurrent("kill -9 at every step boundary of a rollback", () => {
  for (const point of boundaries) {
    it(`keeps serving and deploys again after the daemon is killed at ${point} of a rollback`, async () => {
      const app = `c8-kr-${point.replace(":", "-")}-${run}`;
      const { dir, agent: first } = await cell(app, point, 3);
      await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "good", version: "v2" });
      await waitFor("v2 to serve", async () => (await serving(app)) === "v2", 90_000);
      await settled(docker, first, app);
      const loop = requestLoop(traefik.url, `${app}.test`);
      void agentctl(first, ["rollback", app]);
      const agent = await afterKill(dir, first, app);
      const state = parsedState(agent);
      const a = state.apps[app]!;
      const served = await serving(app);
      // Finished forward, the rollback sticks (pinned, v2 skipped); undone, v2 stays and nothing is pinned.
      if (served === "v1") expect([a.pin?.version, a.skip.map((s) => s.reason)]).toEqual(["latest", ["rolled-back"]]);
      else expect([served, a.pin, a.skip]).toEqual(["v2", undefined, []]);
      await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "good", version: "v3" });
      const again = await agentctl(agent, ["deploy", app]);
      expect(again.code, again.stderr).toBe(0);
      await waitFor("v3 to serve", async () => (await serving(app)) === "v3", 90_000);
      await settled(docker, agent, app);
      const seen = await loop.stop();
      expect(seen.failed, JSON.stringify(seen.failed.slice(0, 5))).toEqual([]);
      await expectSettledTruth(docker, agent, app);
      await agent.stop();
    }, CELL_MS);
  }
});
