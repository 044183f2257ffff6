// Fault matrix, `kill -9` cells: the daemon SIGKILLs itself (test-only DEPLOY_AGENT_TEST_KILL_AT)
// at every step boundary of a deploy and of a rollback, and is started again. Requests through the
// routing model never fail, one slot serves, the state tells the truth, nothing is orphaned, and
// the agent deploys again without help. Each cell has its own app, daemon dir and request loop.
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { STEP_NAMES } from "../../agent/state/schema.js";
import { agentctl, agentYaml, makeAgentDir, removeDir, requestLoop, servedVersion, startAgent, storyApp, waitFor, writeConfig, type AgentProcess, type RequestLoop } from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { appContainers, expectSettledTruth, parsedState, settled } from "../support/fault-matrix.js";
import { publishVersion, testRunId } from "../support/images.js";
import { startTraefikModel } from "../support/traefik-model.js";

const run = testRunId();
/** A guard against a hung cell only: a cell runs three deploys and a restart, well under a minute on an idle runner. */
const CELL_MS = 600_000;
const docker = new Dockerode();
let traefik: Awaited<ReturnType<typeof startTraefikModel>>;
const dirs: string[] = [];

/** The route network all cells share, made here: daemons of cells that run at once would each create it, and the Engine's duplicate check is best effort only. */
const network = `c8-net-${run}`;

beforeAll(async () => {
  await docker.createNetwork({ Name: network, Driver: "bridge", CheckDuplicate: true });
  traefik = await startTraefikModel({ docker });
});

afterAll(async () => {
  await traefik?.close();
  await cleanupTestRun();
  for (const d of dirs) removeDir(d);
});

const serving = (app: string) => servedVersion(traefik.url, `${app}.test`);

/** One cell's app, its daemons (the killed one and its successor) and its request loop. */
class Cell {
  readonly dir = makeAgentDir("c8-kill-");
  readonly #agents: AgentProcess[] = [];
  #loop: RequestLoop | undefined;

  constructor(readonly app: string) {
    dirs.push(this.dir);
    writeConfig(this.dir, agentYaml(this.dir, storyApp(app, `127.0.0.1:5000/stories/${app}`, run, { drain: "1s", settle: "3s", network })));
  }

  publish(version: string): Promise<unknown> {
    return publishVersion({ repo: `stories/${this.app}`, tag: "latest", behaviour: "good", version });
  }

  async start(env: NodeJS.ProcessEnv = {}): Promise<AgentProcess> {
    const agent = await startAgent(this.dir, { env });
    this.#agents.push(agent);
    return agent;
  }

  /** A daemon set to kill itself at the `nth` crossing of `point`, with v1 serving. */
  async armed(point: string, nth: number): Promise<AgentProcess> {
    await this.publish("v1");
    const agent = await this.start({ DEPLOY_AGENT_TEST_KILL_AT: `${point}:${nth}` });
    await this.serves("v1");
    return agent;
  }

  serves(version: string): Promise<true> {
    return waitFor(`${version} to serve`, async () => (await serving(this.app)) === version || undefined, 90_000);
  }

  loop(): void {
    this.#loop = requestLoop(traefik.url, `${this.app}.test`);
  }

  async failedRequests(): Promise<{ at: number; what: string }[]> {
    return (await this.#loop!.stop()).failed;
  }

  /** Starts the killed daemon again, without the switch, and waits until the app has settled. */
  async restartAfterKill(killed: AgentProcess): Promise<AgentProcess> {
    expect(await killed.exited).toBe(-1);
    expect(killed.lines.some((l) => l.includes("DEPLOY_AGENT_TEST_KILL_AT reached"))).toBe(true);
    const agent = await this.start();
    await settled(docker, agent, this.app);
    return agent;
  }

  /**
   * Leaves nothing running, pass or fail: its daemons are killed and its app's containers go, so
   * later cells do not share the cores with a crowd of idle releases and their health checks.
   */
  async retire(): Promise<void> {
    await this.#loop?.stop();
    for (const a of this.#agents) await a.stop("SIGKILL");
    for (const c of await appContainers(docker, this.app)) await docker.getContainer(c.name).remove({ force: true });
  }
}

/** Runs `fn` once fewer than `n` others run (vitest starts up to five concurrent tests). */
function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    if (active < n) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await fn();
    } finally {
      // The slot passes straight to the next waiter, or frees up.
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}

// Three cells at a time: each is mostly waiting (polls, settle, drain). Three keep the whole
// matrix within the CI budget without starving the request loops on 2 cores.
const cellsAtOnce = limiter(3);

function inCell(app: string, body: (cell: Cell) => Promise<void>): Promise<void> {
  return cellsAtOnce(async () => {
    const cell = new Cell(app);
    try {
      await body(cell);
    } finally {
      await cell.retire();
    }
  });
}

// predeploy and postdeploy run only for an app that sets them, which these cells' apps do not: a
// kill during them is test/stories/release-steps.test.ts's.
const boundaries = STEP_NAMES.filter((step) => step !== "predeploy" && step !== "postdeploy").flatMap((step) => (["start", "end"] as const).map((phase) => `${step}:${phase}`));

describe.concurrent("kill -9 at every step boundary of a deploy", () => {
  for (const point of boundaries) {
    it(`keeps serving and deploys again after the daemon is killed at ${point} of a deploy`, async () => {
      await inCell(`c8-kd-${point.replace(":", "-")}-${run}`, async (cell) => {
        const first = await cell.armed(point, 2);
        cell.loop();
        await cell.publish("v2");
        const agent = await cell.restartAfterKill(first);
        // Undone or finished, the kill was not the release's fault: v2 serves without help.
        await cell.serves("v2");
        await settled(docker, agent, cell.app);
        await cell.publish("v3");
        await cell.serves("v3");
        await settled(docker, agent, cell.app);
        const failed = await cell.failedRequests();
        expect(failed, `${JSON.stringify(failed.slice(0, 5))}\n${traefik.history(`${cell.app}.test`)}`).toEqual([]);
        const state = await expectSettledTruth(docker, agent, cell.app);
        expect(state.apps[cell.app]!.skip).toEqual([]);
      });
    }, CELL_MS);
  }
});

describe.concurrent("kill -9 at every step boundary of a rollback", () => {
  for (const point of boundaries) {
    it(`keeps serving and deploys again after the daemon is killed at ${point} of a rollback`, async () => {
      await inCell(`c8-kr-${point.replace(":", "-")}-${run}`, async (cell) => {
        const first = await cell.armed(point, 3);
        await cell.publish("v2");
        await cell.serves("v2");
        await settled(docker, first, cell.app);
        cell.loop();
        void agentctl(first, ["rollback", cell.app]);
        const agent = await cell.restartAfterKill(first);
        const a = parsedState(agent).apps[cell.app]!;
        const served = await serving(cell.app);
        // Finished forward, the rollback sticks (pinned, v2 skipped); undone, v2 stays and nothing is pinned.
        if (served === "v1") expect([a.pin?.version, a.skip.map((s) => s.reason)]).toEqual(["latest", ["rolled-back"]]);
        else expect([served, a.pin, a.skip]).toEqual(["v2", undefined, []]);
        await cell.publish("v3");
        // Pinned, only a deploy by hand moves on; undone, the polls deploy v3 by themselves.
        if (served === "v1") {
          const again = await agentctl(agent, ["deploy", cell.app]);
          expect(again.code, again.stderr).toBe(0);
        }
        await cell.serves("v3");
        await settled(docker, agent, cell.app);
        const failed = await cell.failedRequests();
        expect(failed, `${JSON.stringify(failed.slice(0, 5))}\n${traefik.history(`${cell.app}.test`)}`).toEqual([]);
        await expectSettledTruth(docker, agent, cell.app);
      });
    }, CELL_MS);
  }
});
