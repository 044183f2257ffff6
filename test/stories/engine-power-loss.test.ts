// Power loss: the agent killed (`kill -9`) while dockerd restarts, on a dockerd of this file's own
// (in a network namespace of its own: test/support/private-dockerd.ts). When both start again,
// exactly one release serves, the cut-off deploy is recorded as aborted, and the agent deploys
// the release it was deploying by itself.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { deployHistory, startAgent } from "../support/agent.js";
import { closeWorld, deploysAgain, endCells, type EngineFaultWorld, expectSettled, inHealthWait, openWorld, servingV1 } from "../support/engine-fault-story.js";
import { publishVersion } from "../support/images.js";

let w: EngineFaultWorld;

beforeAll(async () => {
  w = await openWorld("ddp");
}, 120_000);

afterEach(() => endCells(w), 60_000);

afterAll(() => closeWorld(w), 120_000);

describe("power loss: the agent killed while dockerd restarts", () => {
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
  }, 240_000);
});
