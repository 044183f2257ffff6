// The poller's ticks when the wall clock jumps, on vitest's fake clock: its setSystemTime moves Date
// alone, as NTP does at boot on a Pi without RTC, while timers and performance.now() keep their
// course, as Node's monotonic timers do. The same clock is injected as the poller's monotonic one.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "../../agent/config/load.js";
import { OVERRUN_MS, RECHECK_MS, createPoller, type Poller } from "../../agent/daemon/poller.js";
import { createLogger, silentLogger } from "../../agent/log.js";

const HOUR = 3_600_000;

function config(schedule: string, apps = ["web"]): ReturnType<typeof parseConfig> {
  const blocks = apps.map((a) => `  ${a}:\n    image: ghcr.io/acme/${a}\n    schedule: "${schedule}"\n    port: 8000\n    health: { path: /health }\n`);
  return parseConfig(`poll: { jitter: 0s }\napps:\n${blocks.join("")}`);
}

let poller: Poller | undefined;
let polls: { app: string; wall: number; mono: number }[];

function start(schedule: string, apps?: string[]): Poller {
  polls = [];
  poller = createPoller(config(schedule, apps), async (app) => void polls.push({ app, wall: Date.now(), mono: performance.now() }), silentLogger(), {
    now: () => performance.now(),
  });
  poller.start();
  return poller;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date", "performance"], now: new Date("2026-03-01T10:00:00.500Z") });
});

afterEach(async () => {
  await poller?.stop();
  poller = undefined;
  vi.useRealTimers();
});

describe("the poller's ticks", () => {
  it("polls each app once per slot of its schedule", async () => {
    start("* * * * * *", ["web", "api"]);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(polls.filter((p) => p.app === "web")).toHaveLength(5);
    expect(polls.filter((p) => p.app === "api")).toHaveLength(5);
    expect(polls.map((p) => new Date(p.wall).getUTCSeconds()).slice(0, 2)).toEqual([1, 1]);
  });

  it("polls once, not once per missed slot, after the wall clock jumps an hour forwards", async () => {
    start("* * * * * *");
    await vi.advanceTimersByTimeAsync(3_000);
    expect(polls).toHaveLength(3);
    vi.setSystemTime(Date.now() + HOUR);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(polls).toHaveLength(4);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(polls).toHaveLength(7);
    // One poll per slot of the new time, never two within one second.
    const gaps = polls.slice(1).map((p, i) => p.mono - polls[i]!.mono);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(500);
  });

  it("keeps polling every period after the wall clock jumps an hour back", async () => {
    start("* * * * * *");
    await vi.advanceTimersByTimeAsync(3_000);
    vi.setSystemTime(Date.now() - HOUR);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(polls).toHaveLength(8);
    // From the jump on, the slots are those of the new time.
    expect(polls.at(-1)!.wall).toBeLessThan(polls[0]!.wall);
  });

  it("runs a daily poll once within the recheck time when the wall clock jumps past its hour", async () => {
    start("0 3 * * *");
    await vi.advanceTimersByTimeAsync(RECHECK_MS);
    expect(polls).toHaveLength(0);
    vi.setSystemTime(new Date("2026-03-02T03:20:00Z"));
    await vi.advanceTimersByTimeAsync(RECHECK_MS);
    expect(polls).toHaveLength(1);
    expect(poller!.nextRun("web")).toBe(new Date(2026, 2, 3, 3, 0, 0).toISOString());
  });

  it("runs a per-minute poll on time, not an hour late, when the wall clock jumps back during the wait", async () => {
    start("* * * * *");
    await vi.advanceTimersByTimeAsync(10_000);
    vi.setSystemTime(Date.now() - HOUR);
    // Status tells when the tick comes on the monotonic wait, not the slot an hour ahead.
    expect(Date.parse(poller!.nextRun("web")!) - Date.now()).toBe(49_500);
    await vi.advanceTimersByTimeAsync(49_500);
    expect(polls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(polls).toHaveLength(2);
  });

  it("skips a tick while the app's previous poll still runs", async () => {
    polls = [];
    let release: () => void = () => {};
    poller = createPoller(config("* * * * * *"), (app) => {
      polls.push({ app, wall: Date.now(), mono: performance.now() });
      return new Promise<void>((r) => (release = r));
    }, silentLogger());
    poller.start();
    await vi.advanceTimersByTimeAsync(3_000);
    expect(polls).toHaveLength(1);
    release();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(polls).toHaveLength(2);
  });

  it("warns once when a poll outlasts its deadlines, and says when it ends", async () => {
    polls = [];
    const lines: { level: number; msg: string; app?: string }[] = [];
    const log = createLogger({ level: "info", format: "json", env: {}, destination: { write: (l: string) => lines.push(JSON.parse(l) as (typeof lines)[number]) } });
    let release: () => void = () => {};
    poller = createPoller(config("*/10 * * * * *"), (app) => {
      polls.push({ app, wall: Date.now(), mono: performance.now() });
      return new Promise<void>((r) => (release = r));
    }, log, { now: () => performance.now() });
    poller.start();
    await vi.advanceTimersByTimeAsync(OVERRUN_MS - 30_000);
    expect(lines.filter((l) => l.level === 40)).toEqual([]);
    await vi.advanceTimersByTimeAsync(3 * OVERRUN_MS);
    expect(lines.filter((l) => l.level === 40)).toEqual([expect.objectContaining({ app: "web", msg: expect.stringContaining("longer than its deadlines") })]);
    release();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(lines.filter((l) => l.msg.startsWith("the long poll ended"))).toHaveLength(1);
    expect(polls).toHaveLength(2);
  });
});
