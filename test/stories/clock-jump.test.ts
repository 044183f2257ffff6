// A Pi without RTC: its wall clock jumps when NTP first syncs. The real daemon runs with
// libfaketime preloaded (test/support/faketime.ts), so the test jumps the daemon's wall clock an
// hour forwards and back while its monotonic clock runs on. One app deploys a release that Docker
// calls healthy but the agent's probe never passes, so only the agent's 20 s deadline ends the
// wait; another polls a scripted registry every second, which counts the polls. The deadline is
// neither cut short nor stretched by a jump, and the polls neither burst after a jump forwards
// nor stop after one back.
import { performance } from "node:perf_hooks";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AgentProcess, agentYaml, deployHistory, loggedLines, startAgent, waitFor, writeConfig } from "../support/agent.js";
import { type FakeWallClock, fakeWallClock } from "../support/faketime.js";
import { TEST_RUN_LABEL, publishVersion, testRunId } from "../support/images.js";
import { type LoopbackServer, startScriptedServer } from "../support/loopback.js";
import { storyScope } from "../support/story-scope.js";

const run = testRunId();
const healthApp = `t8-health-${run}`;
const pollApp = `t8-poll-${run}`;
const repo = `stories/${healthApp}`;
const HOUR_S = 3600;
const HEALTH_DEADLINE_MS = 20_000;

const docker = new Dockerode();
const scope = storyScope("da-t8-clock-");
let agent: AgentProcess;
let clock: FakeWallClock;
let registry: LoopbackServer;
/** Monotonic times (this process's) of the poll app's manifest checks. */
const polls: number[] = [];

beforeAll(async () => {
  const dir = scope.dir();
  clock = fakeWallClock(dir);
  // Tag not found: a poll is one HEAD, answered at once, and a 404 is no reason to back off.
  registry = await startScriptedServer((req, res) => {
    if (req.method === "HEAD" && req.url?.startsWith(`/v2/t8/${pollApp}/manifests/`)) polls.push(performance.now());
    if (req.url === "/v2/") return void res.writeHead(200, { "content-type": "application/json" }).end("{}");
    res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] }));
  });
  const labels = `labels: { ${TEST_RUN_LABEL}: "${run}" }`;
  writeConfig(dir, `poll: { jitter: 0s }\n${agentYaml(dir, `
  ${healthApp}:
    image: 127.0.0.1:5000/${repo}
    schedule: "*/2 * * * * *"
    port: 8000
    health: { path: /health, command: "true", interval: 1s, startTimeout: 20s }
    stopTimeout: 2s
    ${labels}`, `
  ${pollApp}:
    image: ${registry.host}/t8/${pollApp}
    schedule: "* * * * * *"
    port: 8000
    health: { path: /health }
    ${labels}`)}`);
  agent = scope.track(await startAgent(dir, { env: clock.env }));
}, 240_000);

afterAll(async () => {
  await scope.close();
  await registry?.stop();
});

/**
 * Waits until the health app's new release is inside its health wait: Docker already calls the new
 * container healthy, which takes a check after its start, while the agent's probe fails. Returns
 * when Docker started it, on Docker's clock, the real one: the wait began after that.
 */
async function healthWaitStarted(): Promise<number> {
  const id = await waitFor("Docker to call the new release healthy while the agent's probe fails", async () => {
    const listed = await docker.listContainers({ filters: { label: [`${TEST_RUN_LABEL}=${run}`], name: [healthApp], health: ["healthy"] } });
    return listed[0]?.Id;
  }, 90_000, 100);
  return Date.parse((await docker.getContainer(id).inspect()).State.StartedAt);
}

/** Waits for the failed deploy of `digest`; returns the real wall-clock time it was seen and its message. */
async function healthWaitFailed(digest: string, what: string, timeoutMs: number): Promise<{ at: number; message: string }> {
  const failed = await waitFor(what, async () => (await deployHistory(agent, healthApp)).find((r) => r.digest === digest && r.outcome === "failed"), timeoutMs, 100);
  return { at: Date.now(), message: failed.error?.message ?? "" };
}

/** Waits until `n` more polls than `seen` arrived; returns the monotonic time of each of them. */
async function morePolls(seen: number, n: number, why: string): Promise<number[]> {
  await waitFor(`${n} polls of ${pollApp} after ${why}`, () => polls.length >= seen + n, 30_000, 50);
  return polls.slice(seen, seen + n);
}

/** `n` polls, one per second's slot, span at least n - 2 seconds (the first slot may fall right at the start). */
function expectNoBurst(times: number[], since: number): void {
  expect(times.at(-1)! - since, `polls after the jump at ${times.map((t) => Math.round(t - since)).join(", ")} ms`).toBeGreaterThanOrEqual((times.length - 2) * 1000);
}

describe("a wall clock that jumps", () => {
  it("neither ends a health wait early nor bursts polls when it jumps an hour forwards", async () => {
    await waitFor("the poll app's first polls", () => polls.length >= 3, 30_000);
    const logFrom = agent.lines.length;
    const { digest } = await publishVersion({ repo, tag: "latest", behaviour: "never-healthy", version: "v1" });
    const started = await healthWaitStarted();
    const seen = polls.length;
    clock.setOffset(HOUR_S);
    const jumped = performance.now();

    expectNoBurst(await morePolls(seen, 4, "the jump forwards"), jumped);
    const failed = await healthWaitFailed(digest, "the health wait to reach its deadline", 60_000);
    expect(failed.at - started, "the 20 s health wait ended early").toBeGreaterThanOrEqual(HEALTH_DEADLINE_MS);
    expect(failed.message).toMatch(/ not healthy after 20s \(Docker health: healthy; /);
    expect(loggedLines(agent, "the wall clock jumped; one poll now, then on schedule from the new time", pollApp, logFrom)).toHaveLength(1);
  }, 180_000);

  it("neither stretches a health wait nor stops the polls when it jumps an hour back", async () => {
    const v2 = await publishVersion({ repo, tag: "latest", behaviour: "never-healthy", version: "v2" });
    const started = await healthWaitStarted();
    const seen = polls.length;
    clock.setOffset(0);
    const jumped = performance.now();

    // With deadlines and ticks on the wall clock, both would wait the hour out.
    expectNoBurst(await morePolls(seen, 4, "the jump back"), jumped);
    const failed = await healthWaitFailed(v2.digest, "the health wait to reach its deadline, not an hour later", HEALTH_DEADLINE_MS + 60_000);
    expect(failed.at - started, "the 20 s health wait ended early").toBeGreaterThanOrEqual(HEALTH_DEADLINE_MS);
    expect(failed.message).toMatch(/ not healthy after 20s \(Docker health: healthy; /);
  }, 180_000);
});
