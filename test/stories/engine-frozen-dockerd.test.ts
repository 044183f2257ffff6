// dockerd frozen with SIGSTOP, then resumed (a hung Engine), on a dockerd of this file's own (in a
// network namespace of its own: test/support/private-dockerd.ts). containerd and the containers
// run on meanwhile, so the live release must serve every request through the routing model, while
// idle and while a deploy is cut off in its health wait.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { deployHistory, requestLoop, statusReport, waitFor } from "../support/agent.js";
import { BACK, closeWorld, deploysAgain, endCells, type EngineFaultWorld, expectSettled, failedSummary, GONE, inHealthWait, logged, openWorld, servingV1, watchProbes } from "../support/engine-fault-story.js";
import { publishVersion } from "../support/images.js";
import { watchDropped } from "../support/serving-gaps.js";

const CELL_TIMEOUT_MS = 240_000;

let w: EngineFaultWorld;

beforeAll(async () => {
  w = await openWorld("ddf");
}, 120_000);

afterEach(() => endCells(w), 60_000);

afterAll(() => closeWorld(w), 120_000);

describe("dockerd frozen with SIGSTOP, then resumed", { timeout: CELL_TIMEOUT_MS }, () => {
  it("during a deploy: blue keeps serving every request, the deploy fails without a skip, and the release deploys once dockerd answers", async () => {
    const s = await servingV1(w, `dd-frz-${w.run}`);
    const drops = watchDropped(w.traefik, s.app);
    const probes = watchProbes(w, s.app);
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
    drops.stop();
    expect(seen.failed, `${failedSummary(seen.failed, drops)}\nfailed probes: ${probes.stop().join("\n")}`).toEqual([]);
    expect(logged(s.agent, GONE, from)).toHaveLength(1);
  });

  it("while idle: the live release serves every request and the next release deploys once dockerd answers", async () => {
    const s = await servingV1(w, `dd-frzidle-${w.run}`);
    const drops = watchDropped(w.traefik, s.app);
    const loop = requestLoop(w.traefik.url, `${s.app}.test`);
    w.dockerd.freeze();
    await waitFor("status to say the Engine does not answer", async () => (await statusReport(s.agent, s.app)).engineError?.code === "ENGINE_UNAVAILABLE", 30_000);
    w.dockerd.resume();
    await deploysAgain(w, s, "v2");
    const seen = await loop.stop();
    drops.stop();
    expect(seen.failed, failedSummary(seen.failed, drops)).toEqual([]);
  });
});
