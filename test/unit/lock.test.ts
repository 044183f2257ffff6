import { describe, expect, it } from "vitest";
import { DeployLocks } from "../../agent/deploy/lock.js";
import { AgentError } from "../../agent/errors.js";

const info = { deployId: "41", version: "v1.2.0", trigger: "poll" as const, step: "resolve" as const, startedAt: "2026-11-25T10:00:00Z" };

describe("deploy locks", () => {
  it("refuses a second deploy of the same app, naming the running deploy and its step", () => {
    const locks = new DeployLocks();
    locks.acquire("web", info);
    locks.setStep("web", "drain", "42");
    let err: unknown;
    try {
      locks.acquire("web", { ...info, deployId: "-", trigger: "cli" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(AgentError);
    expect((err as AgentError).code).toBe("DEPLOY_LOCKED");
    expect((err as AgentError).message).toBe("deploy of web already running (id 42, v1.2.0, step drain)");
    expect((err as AgentError).hint).toContain("agentctl status");
  });

  it("lets other apps deploy at the same time", () => {
    const locks = new DeployLocks();
    locks.acquire("web", info);
    expect(() => locks.acquire("api", info)).not.toThrow();
    expect(locks.size).toBe(2);
  });

  it("frees the app when released, and a stale release does not free a newer holder", () => {
    const locks = new DeployLocks();
    const release = locks.acquire("web", info);
    release();
    expect(locks.current("web")).toBeUndefined();
    const second = locks.acquire("web", { ...info, deployId: "43" });
    release();
    expect(locks.current("web")?.deployId).toBe("43");
    second();
    expect(locks.size).toBe(0);
  });
});
