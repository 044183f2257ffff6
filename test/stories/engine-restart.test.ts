// dockerd stopped and started again, as unattended-upgrades does, on a dockerd of this file's own
// (in a network namespace of its own: test/support/private-dockerd.ts). Its containers stop with
// it, as without live-restore, so requests fail while it is down; each cell asserts what must hold
// once it is back: one slot serves, the state is true, nothing of the agent's is orphaned or
// skip-listed, and the agent deploys again by itself. The last test proves the host was left alone.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { deployHistory, waitFor } from "../support/agent.js";
import {
  closeWorld,
  deploysAgain,
  endCells,
  type EngineFaultWorld,
  expectSettled,
  GONE,
  inHealthWait,
  inStep,
  logged,
  openWorld,
  restartDockerd,
  servingV1,
  startHoldingRegistry,
  type HoldingRegistry,
} from "../support/engine-fault-story.js";
import { buildOnMainEngine, docker0Addresses } from "../support/host-network.js";
import { publishVersion } from "../support/images.js";

/** A cell waits for dockerd to stop and start (seconds each on a loaded 2-core box) and for two deploys. */
const CELL_TIMEOUT_MS = 240_000;

let w: EngineFaultWorld;
let registry: HoldingRegistry | undefined;

beforeAll(async () => {
  w = await openWorld("ddr");
}, 120_000);

afterEach(() => endCells(w), 60_000);

afterAll(async () => {
  await registry?.stop();
  await closeWorld(w);
}, 120_000);

describe("dockerd stopped and started again", { timeout: CELL_TIMEOUT_MS }, () => {
  it("while idle: the live release serves again once dockerd is back, and the next release deploys", async () => {
    const s = await servingV1(w, `dd-idle-${w.run}`);
    await restartDockerd(w, s.agent, s.agent.lines.length);
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
    await restartDockerd(w, s.agent, s.agent.lines.length);
    const record = (await deployHistory(s.agent, s.app)).find((r) => r.id === interrupted);
    expect(record?.outcome).toBe("failed");
    expect(record?.error?.code, record?.error?.message).toBe("ENGINE_UNAVAILABLE");
    await expectSettled(w, s, "v2");
    await deploysAgain(w, s, "v3");
  });

  it("during the drain: the deploy goes on, since the new release was routed, exactly one release serves once dockerd is back, and the next release deploys", async () => {
    const s = await servingV1(w, `dd-drain-${w.run}`, { drain: "15s" });
    await publishVersion({ repo: s.repo, tag: "latest", behaviour: "good", version: "v2" });
    const interrupted = await inStep(s.agent, s.app, "drain");
    await restartDockerd(w, s.agent, s.agent.lines.length);
    // Green was routed: the failure branch finishes forward (agent/deploy/commit.ts) rather than remove it.
    const record = await waitFor("the interrupted deploy to end", async () => (await deployHistory(s.agent, s.app)).find((r) => r.id === interrupted && r.outcome !== "running"), 60_000);
    expect(record.outcome, JSON.stringify(record.error)).toBe("succeeded");
    await expectSettled(w, s, "v2");
    await deploysAgain(w, s, "v3");
  });
});

describe("the host around the private dockerd", () => {
  it("keeps its docker0 with its address, and image builds on the main Engine still work", () => {
    expect(w.docker0?.length, "docker0 had an address before the story").toBeGreaterThan(0);
    expect(docker0Addresses()).toEqual(w.docker0);
    buildOnMainEngine(`dd-host-check:${w.run}`);
  }, 120_000);
});
