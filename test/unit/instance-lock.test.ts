// The one-daemon lock (daemon/instance-lock.ts) within one process: a held lock refuses a second
// taker naming the holder's pid, one file has one lock however it is spelled, and a released lock
// is free. The cross-process cases (a second daemon, kill -9) are in test/stories/single-daemon.test.ts.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { acquireInstanceLock, lockHolder, lockName } from "../../agent/daemon/instance-lock.js";

const dir = mkdtempSync(join(tmpdir(), "one-lock-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the one-daemon lock", () => {
  it("refuses a second taker, naming the holder's pid, until the holder releases it", async () => {
    const state = join(dir, "state.json");
    const lock = await acquireInstanceLock("state file", state);
    try {
      await expect(acquireInstanceLock("state file", state)).rejects.toMatchObject({
        code: "ALREADY_RUNNING",
        message: `another deploy-agent (pid ${process.pid}) is already running on the state file ${state}; this one exits without touching it`,
      });
      expect(await lockHolder("state file", state)).toBe(process.pid);
    } finally {
      await lock.release();
    }
    expect(await lockHolder("state file", state)).toBeUndefined();
    await (await acquireInstanceLock("state file", state)).release();
  });

  it("gives one file one lock however its path is spelled, before the file exists", () => {
    mkdirSync(join(dir, "real"));
    symlinkSync(join(dir, "real"), join(dir, "link"));
    const name = lockName("state file", join(dir, "real/state.json"));
    expect(lockName("state file", join(dir, "link/state.json"))).toBe(name);
    expect(lockName("state file", join(dir, "real/../real/./state.json"))).toBe(name);
    expect(lockName("state file", join(dir, "link/not-yet/state.json"))).toBe(lockName("state file", join(dir, "real/not-yet/state.json")));
  });

  it("keeps the state file's lock and the socket's apart, and different files apart", () => {
    const path = join(dir, "x");
    expect(lockName("state file", path)).not.toBe(lockName("control socket", path));
    expect(lockName("state file", path)).not.toBe(lockName("state file", join(dir, "y")));
    expect(lockName("state file", path).startsWith("\0deploy-agent-state-")).toBe(true);
  });
});
