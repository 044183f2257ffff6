import { afterEach, describe, expect, it, vi } from "vitest";
import { LiveWatch } from "../../agent/daemon/live-watch.js";
import type { ContainerDetail, OwnContainerEvent } from "../../agent/docker/engine.js";
import { AgentError } from "../../agent/errors.js";
import { createLogger } from "../../agent/log.js";
import type { Live } from "../../agent/state/schema.js";

const live: Live = { deployId: "4", version: "v1", digest: "sha256:a", imageId: "sha256:i", slot: "blue", generation: 4, since: "2026-01-01T00:00:00.000Z" };

/** An Engine whose event stream the test opens, feeds and ends; counts the streams not given back. */
function fakeEngine() {
  let onEvent: ((e: OwnContainerEvent) => void) | undefined;
  let onEnd: ((why: string) => void) | undefined;
  let down = false;
  const state = { open: 0, opened: 0, health: "healthy", running: true };
  return {
    state,
    setDown(v: boolean) {
      down = v;
    },
    emit(action: string, exitCode?: number) {
      onEvent?.({ id: "c1", action, app: "web", name: "web-blue", deployId: "4", exitCode, at: Date.now() });
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
      inspect: async () => ({ running: state.running, health: state.health }) as ContainerDetail,
    },
  };
}

function logs() {
  const lines: { level: number; msg: string; exitCode?: number; logs?: string }[] = [];
  const log = createLogger({ level: "info", format: "json", env: {}, destination: { write: (s: string) => lines.push(JSON.parse(s) as (typeof lines)[number]) } });
  return { lines, log };
}

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
});
