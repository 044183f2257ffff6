import { afterEach, describe, expect, it, vi } from "vitest";
import { LiveWatch } from "../../agent/daemon/live-watch.js";
import type { ContainerDetail, OwnContainerEvent } from "../../agent/docker/engine.js";
import { AgentError } from "../../agent/errors.js";
import type { Live } from "../../agent/state/schema.js";
import { capturedLog, type LoggedLine } from "../support/captured-log.js";

const live: Live = { deployId: "4", version: "v1", digest: "sha256:a", imageId: "sha256:i", slot: "blue", generation: 4, since: "2026-01-01T00:00:00.000Z" };

/** An Engine whose event stream the test opens, feeds and ends; counts the streams not given back. */
function fakeEngine() {
  let onEvent: ((e: OwnContainerEvent) => void) | undefined;
  let onEnd: ((why: string) => void) | undefined;
  let down = false;
  const state = { open: 0, opened: 0, health: "healthy", running: true, startedAt: "2026-01-01T00:00:00.000Z" };
  return {
    state,
    setDown(v: boolean) {
      down = v;
    },
    emit(action: string, exitCode?: number, name = "web-blue") {
      onEvent?.({ id: "c1", action, app: "web", name, deployId: "4", exitCode, at: Date.now() });
    },
    end() {
      onEnd?.("the Engine closed its event stream");
    },
    engine: {
      async watchOwnContainers(ev: (e: OwnContainerEvent) => void, end: (why: string) => void) {
        if (down) throw new AgentError("ENGINE_UNAVAILABLE", "no Engine");
        onEvent = ev;
        onEnd = end;
        state.open++;
        state.opened++;
        let closed = false;
        return { close: () => void (closed ? undefined : ((closed = true), state.open--)) };
      },
      logTail: async () => "line 1\nline 2",
      inspect: async () => ({ running: state.running, health: state.health, startedAt: state.startedAt }) as ContainerDetail,
    },
  };
}

const logs = () => capturedLog<LoggedLine & { exitCode?: number; logs?: string; role?: string; container?: string }>();

afterEach(() => {
  vi.useRealTimers();
});

describe("the watch of the live releases", () => {
  it("warns once per episode with the exit status and log lines, and says once when the live release is healthy again", async () => {
    const f = fakeEngine();
    const { lines, log } = logs();
    const w = new LiveWatch({ engine: f.engine, live: () => live, log });
    await w.start();
    f.emit("die", 3);
    f.emit("start");
    f.emit("die", 3);
    f.emit("start");
    await vi.waitFor(() => expect(lines.filter((l) => l.level === 40)).toHaveLength(1));
    expect(lines[0]).toMatchObject({ exitCode: 3, logs: "line 1\nline 2" });
    expect(w.problem("web")).toMatchObject({ condition: "restarting", exitCode: 3 });
    f.emit("health_status: healthy");
    expect(w.problem("web")).toBeUndefined();
    expect(lines.filter((l) => l.msg === "the live release runs healthy again")).toHaveLength(1);
    w.stop();
    expect(f.state.open).toBe(0);
  });

  it("ignores the events of a container that is not the live release", async () => {
    const f = fakeEngine();
    const { lines, log } = logs();
    const w = new LiveWatch({ engine: f.engine, live: () => ({ ...live, slot: "green" }), log });
    await w.start();
    f.emit("die", 1);
    expect(w.problem("web")).toBeUndefined();
    expect(lines).toEqual([]);
    w.stop();
  });

  it("gives the stream back when the Engine ends it, opens one again with backoff once the Engine answers, and reads an episode that ended meanwhile", async () => {
    vi.useFakeTimers();
    const f = fakeEngine();
    const { lines, log } = logs();
    const w = new LiveWatch({ engine: f.engine, live: () => live, log });
    await w.start();
    f.emit("die", 137);
    f.setDown(true);
    f.end();
    expect(f.state.open).toBe(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(f.state.opened).toBe(1);
    f.setDown(false);
    await vi.advanceTimersByTimeAsync(15_000);
    expect(f.state.open).toBe(1);
    expect(w.problem("web")).toBeUndefined();
    expect(lines.filter((l) => l.msg === "the live release runs healthy again")).toHaveLength(1);
    w.stop();
    expect(f.state.open).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(f.state.opened).toBe(2);
  });

  it("follows each role's live container with its own episode, and ends one without a health check once it has run 10 s since its last start", async () => {
    vi.useFakeTimers();
    const f = fakeEngine();
    const { lines, log } = logs();
    const roles = () => [
      { role: "worker", checked: false },
      { role: "checked", checked: true },
    ];
    const w = new LiveWatch({ engine: f.engine, live: () => live, roles, log });
    await w.start();
    f.emit("die", 137, "web-worker-blue");
    f.emit("die", 1, "web-worker-green");
    await vi.waitFor(() => expect(lines.filter((l) => l.level === 40)).toHaveLength(1));
    expect(lines[0]).toMatchObject({ role: "worker", container: "web-worker-blue", exitCode: 137, msg: expect.stringContaining("the live release's worker is not running") });
    expect(w.problem("web")).toBeUndefined();
    expect(w.problem("web", "worker")).toMatchObject({ condition: "exited", exitCode: 137 });
    f.emit("start", undefined, "web-worker-blue");
    await vi.advanceTimersByTimeAsync(5_000);
    f.emit("die", 137, "web-worker-blue");
    f.emit("start", undefined, "web-worker-blue");
    await vi.advanceTimersByTimeAsync(9_000);
    expect(w.problem("web", "worker")).toMatchObject({ condition: "restarting" });
    await vi.advanceTimersByTimeAsync(1_000);
    expect(w.problem("web", "worker")).toBeUndefined();
    expect(lines.filter((l) => l.level === 40)).toHaveLength(1);
    expect(lines.filter((l) => l.msg === "the live release's worker runs again (10 s without exiting)")).toMatchObject([{ role: "worker", container: "web-worker-blue" }]);

    f.emit("die", 2, "web-checked-blue");
    f.emit("start", undefined, "web-checked-blue");
    await vi.advanceTimersByTimeAsync(20_000);
    expect(w.problem("web", "checked")).toMatchObject({ condition: "restarting", exitCode: 2 });
    f.emit("health_status: healthy", undefined, "web-checked-blue");
    expect(w.problem("web", "checked")).toBeUndefined();
    expect(lines.filter((l) => l.msg === "the live release's checked runs healthy again")).toHaveLength(1);
    w.stop();
  });

  it("says nothing of a live container the agent stopped itself (an overlap: false role's old one during a deploy), and nothing when it is started again", async () => {
    vi.useFakeTimers();
    const f = fakeEngine();
    const { lines, log } = logs();
    const stopped = new Set<string>();
    const engine = { ...f.engine, stoppedOnPurpose: (id: string) => stopped.has(id) };
    const w = new LiveWatch({ engine, live: () => live, roles: () => [{ role: "worker", checked: false }], log });
    await w.start();
    stopped.add("c1");
    f.emit("die", 143, "web-worker-blue");
    expect(w.problem("web", "worker")).toBeUndefined();
    stopped.delete("c1");
    f.emit("start", undefined, "web-worker-blue");
    await vi.advanceTimersByTimeAsync(11_000);
    expect(w.problem("web", "worker")).toBeUndefined();
    // The same exit when the agent did not stop it is a crash, and said.
    f.emit("die", 143, "web-worker-blue");
    await vi.waitFor(() => expect(lines.filter((l) => l.level === 40)).toHaveLength(1));
    expect(lines.map((l) => l.msg)).toEqual([expect.stringContaining("the live release's worker is not running: it exited (last exit status 143)")]);
    w.stop();
  });

  it("reads a role's episode that ended while the stream was away", async () => {
    vi.useFakeTimers();
    const f = fakeEngine();
    const { lines, log } = logs();
    const w = new LiveWatch({ engine: f.engine, live: () => live, roles: () => [{ role: "worker", checked: false }], log });
    await w.start();
    f.emit("die", 137, "web-worker-blue");
    f.setDown(true);
    f.end();
    f.setDown(false);
    await vi.advanceTimersByTimeAsync(1000);
    expect(f.state.open).toBe(1);
    expect(w.problem("web", "worker")).toBeUndefined();
    expect(lines.filter((l) => l.msg === "the live release's worker runs again (10 s without exiting)")).toHaveLength(1);
    w.stop();
  });
});
