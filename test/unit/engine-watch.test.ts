import { describe, expect, it } from "vitest";
import { AgentError } from "../../agent/errors.js";
import { createLogger } from "../../agent/log.js";
import { decide, EngineWatch, MAX_RETRY_MS, retryDelayMs, type WatchState } from "../../agent/daemon/engine-watch.js";

const up: WatchState = { phase: "up" };

describe("the Engine watch's decisions", () => {
  it("starts an episode with one warning and a ping after the first delay when the Engine is lost", () => {
    expect(decide(up, { type: "lost", why: "stream ended", at: 100 })).toEqual({
      state: { phase: "down", since: 100, failures: 0 },
      say: "gone",
      next: "ping",
      delayMs: retryDelayMs(0),
    });
  });

  it("keeps one episode when the Engine is lost again while it is gone", () => {
    const down: WatchState = { phase: "down", since: 100, failures: 3 };
    expect(decide(down, { type: "lost", why: "a deploy failed", at: 200 })).toEqual({ state: down, next: "none" });
  });

  it("backs off on each failed ping, doubling up to the cap, without a second warning", () => {
    let state: WatchState = { phase: "down", since: 0, failures: 0 };
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const d = decide(state, { type: "still-gone", at: i });
      expect(d.say).toBeUndefined();
      delays.push(d.delayMs!);
      state = d.state;
    }
    expect(delays).toEqual([2000, 4000, 8000, MAX_RETRY_MS, MAX_RETRY_MS, MAX_RETRY_MS]);
  });

  it("reconciles when the Engine answers, and ends the episode with one line saying how long it was gone only after the reconcile", () => {
    const down: WatchState = { phase: "down", since: 1000, failures: 2 };
    const answered = decide(down, { type: "answered", at: 5000 });
    expect(answered).toEqual({ state: down, next: "reconcile" });
    expect(decide(answered.state, { type: "reconciled", at: 7000 })).toEqual({ state: up, say: "back", next: "none", downMs: 6000 });
  });

  it("stays in the same episode when the Engine goes again during the reconcile", () => {
    const down: WatchState = { phase: "down", since: 1000, failures: 0 };
    const again = decide(decide(down, { type: "answered", at: 2000 }).state, { type: "still-gone", at: 3000 });
    expect(again.say).toBeUndefined();
    expect(again.state).toEqual({ phase: "down", since: 1000, failures: 1 });
  });

  it("ends the episode when the reconcile fails on something else than the Engine, rather than retrying it forever", () => {
    expect(decide({ phase: "down", since: 0, failures: 0 }, { type: "reconcile-failed", at: 10 }).state).toEqual(up);
  });

  it("does nothing on an answer or a reconcile while the Engine is up", () => {
    expect(decide(up, { type: "answered", at: 1 })).toEqual({ state: up, next: "none" });
    expect(decide(up, { type: "reconciled", at: 1 })).toEqual({ state: up, next: "none" });
  });
});

/** A watch over a scripted Engine: `engineUp` decides whether ping and watch succeed. */
function scriptedWatch(opts: { engineUp: () => boolean; reconcile?: () => Promise<void> }) {
  const lines: { level: number; msg: string }[] = [];
  const log = createLogger({ level: "debug", format: "json", env: {}, destination: { write: (s: string) => lines.push(JSON.parse(s) as { level: number; msg: string }) } });
  const streams: ((why: string) => void)[] = [];
  let reconciles = 0;
  const gone = () => new AgentError("ENGINE_UNAVAILABLE", "Docker Engine at /test.sock is not answering");
  const watch = new EngineWatch({
    ping: async () => {
      if (!opts.engineUp()) throw gone();
    },
    watch: async (onEnd) => {
      if (!opts.engineUp()) throw gone();
      streams.push(onEnd);
      return { close: () => undefined };
    },
    reconcileAll: async () => {
      reconciles++;
      await opts.reconcile?.();
    },
    log,
    socketPath: "/test.sock",
  });
  const said = (msg: string) => lines.filter((l) => l.msg === msg).length;
  return { watch, streams, said, reconciles: () => reconciles };
}

async function until(what: string, cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const GONE = "Docker Engine is not answering; deploys wait until it is back";
const BACK = "Docker Engine is back";

describe("the Engine watch", () => {
  it("warns once when the Engine's event stream ends, reconciles once it answers again, and says it is back", async () => {
    let engineUp = true;
    const w = scriptedWatch({ engineUp: () => engineUp });
    await w.watch.start();
    engineUp = false;
    w.streams[0]!("the Engine closed its event stream");
    w.watch.lost("a deploy got ENGINE_UNAVAILABLE");
    expect(w.watch.available).toBe(false);
    expect(w.said(GONE)).toBe(1);
    engineUp = true;
    await until("the Engine to be back", () => w.watch.available);
    expect(w.reconciles()).toBe(1);
    expect(w.said(GONE)).toBe(1);
    expect(w.said(BACK)).toBe(1);
    // The stream was opened again: the next loss is a new episode.
    expect(w.streams).toHaveLength(2);
    await w.watch.stop();
  });

  it("closes an event stream that opens only after the watch was stopped (start-up does not wait for it)", async () => {
    let open!: () => void;
    let closed = 0;
    const log = createLogger({ level: "debug", format: "json", env: {}, destination: { write: () => undefined } });
    const watch = new EngineWatch({
      ping: async () => undefined,
      watch: () => new Promise((resolve) => (open = () => resolve({ close: () => void closed++ }))),
      reconcileAll: async () => undefined,
      log,
      socketPath: "/test.sock",
    });
    const started = watch.start();
    await watch.stop();
    open();
    await started;
    expect([closed, watch.available]).toEqual([1, true]);
  });

  it("starts an episode at once when the Engine is not there when the watch starts", async () => {
    let engineUp = false;
    const w = scriptedWatch({ engineUp: () => engineUp });
    await w.watch.start();
    expect(w.watch.available).toBe(false);
    engineUp = true;
    await until("the Engine to be back", () => w.watch.available);
    expect([w.said(GONE), w.said(BACK), w.reconciles()]).toEqual([1, 1, 1]);
    await w.watch.stop();
  });

  it("keeps one episode when the Engine goes again during the reconcile, and reconciles again once it answers", async () => {
    let engineUp = true;
    let first = true;
    const w = scriptedWatch({
      engineUp: () => engineUp,
      reconcile: async () => {
        if (!first) return;
        first = false;
        throw new AgentError("ENGINE_UNAVAILABLE", "Docker Engine at /test.sock is not answering GET /containers/json");
      },
    });
    await w.watch.start();
    w.watch.lost("stream ended");
    await until("the Engine to be back", () => w.watch.available);
    expect([w.said(GONE), w.said(BACK), w.reconciles()]).toEqual([1, 1, 2]);
    await w.watch.stop();
  });

  it("starts no episode when a deploy met ENGINE_UNAVAILABLE but the Engine answers a ping (dockerd still stopping; its stream's end tells)", async () => {
    const w = scriptedWatch({ engineUp: () => true });
    await w.watch.start();
    await w.watch.suspect("the new release was stopped by dockerd stopping");
    expect(w.watch.available).toBe(true);
    expect(w.said(GONE)).toBe(0);
    await w.watch.stop();
  });

  it("starts an episode when a deploy met ENGINE_UNAVAILABLE and the Engine does not answer a ping (a hung dockerd keeps its stream open)", async () => {
    let engineUp = true;
    const w = scriptedWatch({ engineUp: () => engineUp });
    await w.watch.start();
    engineUp = false;
    await w.watch.suspect("inspect did not answer within 3s");
    expect(w.watch.available).toBe(false);
    expect(w.said(GONE)).toBe(1);
    engineUp = true;
    await until("the Engine to be back", () => w.watch.available);
    expect([w.said(GONE), w.said(BACK), w.reconciles()]).toEqual([1, 1, 1]);
    await w.watch.stop();
  });

  it("stops pinging when it is stopped while the Engine is gone", async () => {
    const w = scriptedWatch({ engineUp: () => false });
    await w.watch.start();
    await w.watch.stop();
    expect(w.watch.available).toBe(false);
    expect(w.reconciles()).toBe(0);
    w.watch.lost("after stop");
    expect(w.said(GONE)).toBe(1);
  });
});
