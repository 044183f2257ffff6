// The registry cells of the fault matrix: one app reaches the registry through a proxy the test
// turns faulty, during a poll or during the Engine's pull (500, 429, a hang, a truncated manifest,
// a manifest whose content does not match its digest). Through each, the live release keeps
// serving a steady request loop through the routing model; a passing fault leaves the digest off
// the skip list, `status` shows the run of failures and the next try, and once the registry heals
// the next polls deploy the release by themselves. Content that does not match its digest is such a
// passing fault too: a digest names fixed content, so it is the registry's copy that went wrong.
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppStatus } from "../../agent/control/protocol.js";
import { agentYaml, agentctl, appStatus, deployHistory, requestLoop, servedVersion, settledDeploy, startAgent, storyApp, waitFor, writeConfig, type AgentProcess } from "../support/agent.js";
import { expectOneServing } from "../support/end-state.js";
import { startFaultyRegistry, type Fault, type FaultyRegistry } from "../support/faulty-registry.js";
import { publishVersion, removeLocalImages, testRunId } from "../support/images.js";
import { storyScope } from "../support/story-scope.js";
import { startTraefikModel } from "../support/traefik-model.js";

const run = testRunId();
const app = `r8-pull-${run}`;
const repo = `stories/${app}`;
const docker = new Dockerode();
const scope = storyScope("r8-");

let agent: AgentProcess;
let traefik: Awaited<ReturnType<typeof startTraefikModel>>;
let registry: FaultyRegistry;
let serving = "v1";

const status = (): Promise<AppStatus> => appStatus(agent, app);
const served = (): Promise<string | undefined> => servedVersion(traefik.url, `${app}.test`);

/** Pushes `version` to the tracked tag and drops the local copy, so the agent's deploy has to pull it. */
async function push(version: string): Promise<string> {
  const pushed = await publishVersion({ repo, tag: "latest", behaviour: "good", version });
  await removeLocalImages(repo);
  return pushed.digest;
}

/** Waits until `status` shows at least `n` failures in a row whose last error has `code`. */
async function retrying(n: number, code: string, timeoutMs = 60_000): Promise<NonNullable<AppStatus["retrying"]>> {
  return waitFor(`${app} retrying after ${n} failures of ${code}`, async () => {
    const r = (await status()).retrying;
    return r !== undefined && r.failures >= n && r.lastError.code === code ? r : undefined;
  }, timeoutMs, 200);
}

beforeAll(async () => {
  registry = await startFaultyRegistry();
  const dir = scope.dir();
  // Polls every 2 s; a digest whose deploy failed is held off 2–4 s (poll.maxBackoff 4s). Without
  // traefik.api the agent waits `settle` for the routing model to pick green; 3 s leaves room for
  // its 2 s throttle on a busy host.
  writeConfig(dir, `${agentYaml(dir, storyApp(app, `${registry.host}/${repo}`, run, { settle: "3s" }))}poll: { maxBackoff: 4s, jitter: 0s }\n`);
  traefik = await startTraefikModel({ docker });
  await push("v1");
  agent = scope.track(await startAgent(dir));
  await waitFor(`${app} to serve v1`, async () => (await served()) === "v1", 90_000);
}, 150_000);

afterAll(async () => {
  await registry?.stop();
  await traefik?.close();
  await scope.close();
});

interface Cell {
  fault: Fault;
  during: "poll" | "pull";
  /** The code `status` shows for the run of failures. */
  code: string;
}

const FAULT_WORDS: Record<Fault, string> = { "500": "answers 500", "429": "answers 429", hang: "hangs", truncated: "cuts the manifest short", mismatch: "alters the manifest" };

const passing: Cell[] = [
  { fault: "500", during: "poll", code: "REGISTRY_UNAVAILABLE" },
  { fault: "truncated", during: "poll", code: "REGISTRY_UNAVAILABLE" },
  { fault: "500", during: "pull", code: "PULL_FAILED" },
  { fault: "429", during: "pull", code: "PULL_FAILED" },
  { fault: "truncated", during: "pull", code: "PULL_FAILED" },
  { fault: "hang", during: "pull", code: "PULL_FAILED" },
  { fault: "mismatch", during: "pull", code: "PULL_FAILED" },
];

describe("a registry that fails while a new release is pushed", () => {
  for (const cell of passing) {
    it(`keeps the live release serving while it ${FAULT_WORDS[cell.fault]} during a ${cell.during}, retries without skipping the digest, and deploys it by itself once the registry heals`, async () => {
      const version = `v-${cell.fault}-${cell.during}`;
      const loop = requestLoop(traefik.url, `${app}.test`);
      registry.set(cell.fault, cell.during);
      const digest = await push(version);

      let r: NonNullable<AppStatus["retrying"]>;
      if (cell.fault === "hang") {
        // The Engine's request for the manifest gets no answer: the deploy waits in its pull step.
        await waitFor("the Engine's pull to hang", async () => registry.held() > 0 && (await status()).running?.step === "pull", 60_000);
        expect(await served()).toBe(serving);
        // The registry comes back, cutting the connection it held: that pull fails, and the next one works.
        registry.set(undefined);
        registry.releaseHeld();
        r = await retrying(1, cell.code);
      } else {
        // At least two failures in a row: the agent retried by itself after the first.
        r = await retrying(2, cell.code);
        expect(r.nextTryAt, JSON.stringify(r)).toBeDefined();
      }
      expect(r.lastError.message.length).toBeGreaterThan(0);
      if (cell.during === "pull") expect(r.digest).toBe(digest);
      const text = await agentctl(agent, ["status", app]);
      expect(text.stdout).toMatch(new RegExp(`retrying +\\d+ failures? in a row, last: ${cell.code}: .*(next try in \\d+s|trying again now)`));
      const s = await status();
      expect(s.skip.map((e) => e.digest)).not.toContain(digest);
      // (After a hang the registry is back already, so the release may be on its way in.)
      if (cell.fault !== "hang") expect(await served()).toBe(serving);

      registry.set(undefined);
      await waitFor(`${app} to serve ${version} by itself`, async () => (await served()) === version, 90_000);
      serving = version;
      // Serving comes before the drain: the record is finished a moment later.
      expect(await settledDeploy(agent, app)).toMatchObject({ trigger: "poll", outcome: "succeeded", digest });
      await waitFor("the retrying state to clear", async () => (await status()).retrying === undefined, 30_000);

      const seen = await loop.stop();
      expect(seen.failed, `${JSON.stringify(seen.failed.slice(0, 5))}; dropped by the routing model: ${JSON.stringify(traefik.table().dropped)}`).toEqual([]);
      expect(seen.ok).toBeGreaterThan(0);
      expect((await expectOneServing(agent, app, traefik.url, docker)).serves).toBe(version);
    }, 240_000);
  }
});
