import { describe, expect, it } from "vitest";
import { shutdownWaitLine } from "../../agent/daemon/serve.js";
import type { RunningDeploy } from "../../agent/deploy/lock.js";

const running = (step: RunningDeploy["step"], deployId = "7"): RunningDeploy => ({ deployId, version: "v2", trigger: "cli", step, startedAt: "2026-01-01T00:00:00.000Z" });

describe("the journal line SIGTERM writes for each running deploy", () => {
  it("says a deploy in its drain is finished, and for how long the agent waits", () => {
    expect(shutdownWaitLine("web", running("drain"), 100_000)).toBe("waiting for deploy 7 of web to finish its drain, up to 100 s");
  });

  it("says a deploy in confirm is finished too, since green already serves", () => {
    expect(shutdownWaitLine("web", running("confirm"), 100_000)).toBe("waiting for deploy 7 of web to finish its confirm, up to 100 s");
  });

  it("says a deploy before the switch stops at its next safe point while the live release keeps serving", () => {
    expect(shutdownWaitLine("web", running("start"), 100_000)).toBe(
      "waiting for deploy 7 of web to stop at its next safe point (it is in step start), up to 100 s; the live release keeps serving",
    );
  });

  it("names the app when the deploy has no id yet", () => {
    expect(shutdownWaitLine("api", running("resolve", "-"), 100_000)).toMatch(/^waiting for the deploy of api to stop at its next safe point/);
  });
});
