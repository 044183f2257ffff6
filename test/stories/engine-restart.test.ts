// dockerd goes away and comes back (stopped and started again, as unattended-upgrades does; frozen
// with SIGSTOP; or restarting while the agent loses power), on a dockerd of this file's own. Its
// containers stop with it, as without live-restore, so requests fail while it is down; each cell
// asserts what must hold once it is back: one slot serves, the state is true, nothing of the
// agent's is orphaned or skip-listed, and the agent deploys again by itself.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { agentctl, type AgentProcess, deployHistory, requestLoop, startAgent, waitFor } from "../support/agent.js";
import {
  deploysAgain,
  type EngineFaultWorld,
  expectSettled,
  inHealthWait,
  inStep,
  logged,
  servingV1,
  startHoldingRegistry,
  type HoldingRegistry,
} from "../support/engine-fault-story.js";
import { publishVersion, testRunId } from "../support/images.js";
import { buildOnMainEngine, docker0Addresses } from "../support/host-network.js";
import { startPrivateDockerd } from "../support/private-dockerd.js";
import { storyScope } from "../support/story-scope.js";
import { startTraefikModel } from "../support/traefik-model.js";

/** A cell waits for dockerd to stop and start (seconds each on a loaded 2-core box) and for two deploys. */
const CELL_TIMEOUT_MS = 240_000;
const GONE = "Docker Engine is not answering; deploys wait until it is back";
const BACK = "Docker Engine is back";

let w: EngineFaultWorld;
let registry: HoldingRegistry | undefined;
/** The host's docker0 before the private dockerd started: it must be the same at the end. */
let docker0Before: string[] | undefined;

beforeAll(async () => {
  docker0Before = docker0Addresses();
  const dockerd = await startPrivateDockerd("dd");
  const traefik = await startTraefikModel({ docker: dockerd.docker });
  w = { dockerd, traefik, scope: storyScope("dd-"), run: testRunId() };
}, 120_000);

afterAll(async () => {
  await w?.scope.close();
  await w?.traefik.close();
  await registry?.stop();
  await w?.dockerd.close();
  // After the private dockerd is gone too (its stop and clean-up are where a bridge could go).
  expect(docker0Addresses()).toEqual(docker0Before);
}, 120_000);

/** The first and last failed requests, for a failure message that says what went wrong and when. */
function failedSummary(failed: { at: number; what: string }[]): string {
  const show = (f: { at: number; what: string } | undefined) => (f ? `${new Date(f.at).toISOString()} ${f.what}` : "");
  return `${failed.length} failed requests, first ${show(failed[0])}, last ${show(failed.at(-1))}`;
}

// A cell that failed half way must not leave the next one without an Engine.
beforeEach(async () => {
  w.dockerd.resume();
  await w.dockerd.start();
});

/** Stops dockerd, waits for the agent to say so once, starts dockerd again, waits for "back". */
async function restartDockerd(agent: AgentProcess, from: number): Promise<void> {
  await w.dockerd.stop();
  await waitFor("the agent to warn that the Engine is gone", () => logged(agent, GONE, from).length > 0, 60_000);
  await w.dockerd.start();
  await waitFor("the agent to see the Engine back", () => logged(agent, BACK, from).length > 0, 60_000);
  expect(logged(agent, GONE, from)).toHaveLength(1);
  expect(logged(agent, BACK, from)).toHaveLength(1);
}

describe("dockerd stopped and started again", { timeout: CELL_TIMEOUT_MS }, () => {
  it("while idle: the live release serves again once dockerd is back, and the next release deploys", async () => {
    const s = await servingV1(w, `dd-idle-${w.run}`);
    await restartDockerd(s.agent, s.agent.lines.length);
    await expectSettled(w, s, "v1");
    await deploysAgain(w, s, "v2");
  });

  it("during the pull: the deploy fails without a skip, v1 serves again, and the release deploys once dockerd is back", async () => {
    registry = await startHoldingRegistry();
    await w.dockerd.reach(Number(registry.host.split(":")[1]));
    const s = await servingV1(w, `dd-pull-${w.run}`, { registry: registry.host });
    registry.hold();
    // A version no other cell uses: its blobs are not on this dockerd yet, so the pull must fetch them.
    await publishVersion({ repo: s.repo, tag: "latest", behaviour: "good", version: "v2-pull" });
    const interrupted = await inStep(s.agent, s.app, "pull");
    await waitFor("the pull to wait for a blob", () => registry!.held() > 0, 30_000);
    const from = s.agent.lines.length;
    await w.dockerd.stop();
    registry.release();
    await waitFor("the agent to warn that the Engine is gone", () => logged(s.agent, GONE, from).length > 0, 60_000);
    const record = await waitFor("the pull to end", async () => (await deployHistory(s.agent, s.app)).find((r) => r.id === interrupted && r.outcome !== "running"), 60_000);
    expect(record.outcome).toBe("failed");
    expect(record.error?.code).toBe("ENGINE_UNAVAILABLE");
    await w.dockerd.start();
    await expectSettled(w, s, "v2-pull");
    expect(logged(s.agent, GONE, from)).toHaveLength(1);
  });

  it("during the new release's health wait: the deploy fails without a skip, v1 serves again, and the release deploys once dockerd is back", async () => {
    const s = await servingV1(w, `dd-health-${w.run}`);
    await publishVersion({ repo: s.repo, tag: "latest", behaviour: "slow", version: "v2", delaySec: 6 });
    const interrupted = await inHealthWait(w, s);
    await restartDockerd(s.agent, s.agent.lines.length);
    const record = (await deployHistory(s.agent, s.app)).find((r) => r.id === interrupted);
    expect(record?.outcome).toBe("failed");
    expect(record?.error?.code).toBe("ENGINE_UNAVAILABLE");
    await expectSettled(w, s, "v2");
    await deploysAgain(w, s, "v3");
  });

  it("during the drain: exactly one release serves once dockerd is back, and the next release deploys", async () => {
    const s = await servingV1(w, `dd-drain-${w.run}`, { drain: "15s" });
    await publishVersion({ repo: s.repo, tag: "latest", behaviour: "good", version: "v2" });
    const interrupted = await inStep(s.agent, s.app, "drain");
    await restartDockerd(s.agent, s.agent.lines.length);
    // The retry of v2 may already run; the interrupted deploy itself must have ended, without a skip.
    const record = await waitFor("the interrupted deploy to end", async () => (await deployHistory(s.agent, s.app)).find((r) => r.id === interrupted && r.outcome !== "running"), 60_000);
    expect(record.error?.code).toBe("ENGINE_UNAVAILABLE");
    await expectSettled(w, s, "v2");
    await deploysAgain(w, s, "v3");
  });
});

describe("dockerd frozen with SIGSTOP, then resumed", { timeout: CELL_TIMEOUT_MS }, () => {
  it("during a deploy: blue keeps serving every request, the deploy fails without a skip, and the release deploys once dockerd answers", async () => {
    const s = await servingV1(w, `dd-frz-${w.run}`);
    const loop = requestLoop(w.traefik.url, `${s.app}.test`);
    await publishVersion({ repo: s.repo, tag: "latest", behaviour: "slow", version: "v2", delaySec: 6 });
    const interrupted = await inHealthWait(w, s);
    const from = s.agent.lines.length;
    w.dockerd.freeze();
    const record = await waitFor("the deploy to give up on the Engine", async () => (await deployHistory(s.agent, s.app)).find((r) => r.id === interrupted && r.outcome !== "running"), 60_000);
    expect(record.error?.code).toBe("ENGINE_UNAVAILABLE");
    await waitFor("the agent to warn that the Engine is gone", () => logged(s.agent, GONE, from).length > 0, 60_000);
    w.dockerd.resume();
    await waitFor("the agent to see the Engine back", () => logged(s.agent, BACK, from).length > 0, 60_000);
    await expectSettled(w, s, "v2");
    const seen = await loop.stop();
    expect(seen.failed, failedSummary(seen.failed)).toEqual([]);
    expect(logged(s.agent, GONE, from)).toHaveLength(1);
  });

  it("while idle: the live release serves every request and the next release deploys once dockerd answers", async () => {
    const s = await servingV1(w, `dd-frzidle-${w.run}`);
    const loop = requestLoop(w.traefik.url, `${s.app}.test`);
    w.dockerd.freeze();
    await waitFor("status to say the Engine does not answer", async () => {
      const st = await agentctl(s.agent, ["status", s.app], { json: true });
      return (st.json as { engineError?: { code: string } } | undefined)?.engineError?.code === "ENGINE_UNAVAILABLE";
    }, 30_000);
    w.dockerd.resume();
    await deploysAgain(w, s, "v2");
    const seen = await loop.stop();
    expect(seen.failed, failedSummary(seen.failed)).toEqual([]);
  });
});

describe("power loss: the agent killed while dockerd restarts", { timeout: CELL_TIMEOUT_MS }, () => {
  it("comes back to one serving release when both start again, and deploys the release it was deploying", async () => {
    const s = await servingV1(w, `dd-power-${w.run}`);
    await publishVersion({ repo: s.repo, tag: "latest", behaviour: "slow", version: "v2", delaySec: 6 });
    const interrupted = await inHealthWait(w, s);
    s.agent.child.kill("SIGKILL");
    await Promise.all([s.agent.exited, w.dockerd.stop()]);
    await w.dockerd.start();
    s.agent = w.scope.track(await startAgent(s.dir));
    await expectSettled(w, s, "v2");
    const record = (await deployHistory(s.agent, s.app)).find((r) => r.id === interrupted);
    expect(record?.outcome).toBe("aborted");
    await deploysAgain(w, s, "v3");
  });
});

describe("the host around the private dockerd", () => {
  it("keeps its docker0 with its address, and image builds on the main Engine still work", () => {
    expect(docker0Before?.length, "docker0 had an address before the story").toBeGreaterThan(0);
    expect(docker0Addresses()).toEqual(docker0Before);
    buildOnMainEngine(`dd-host-check:${w.run}`);
  }, 120_000);
});
