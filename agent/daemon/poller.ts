// The schedules. node-cron parses each app's cron expression and names its next wall-clock times;
// the waits between them are the poller's own, on Node's timers, which run on the monotonic clock.
// node-cron 4's runner (dist/_shared.js, Runner.heartBeat and planBeat) compares its expected slot
// with the wall clock: after a jump forwards it walks every slot it missed, warning about each (an
// hour of a per-second schedule is 3600 warnings and two seconds of a blocked event loop); after a
// jump backwards it waits until the wall clock is back at that slot, so polls stop for as long as
// the jump. Here a tick is due when the wall clock reaches its slot or when the wait armed for it
// has passed on the monotonic clock, whichever comes first; then one poll runs, and the next slot
// is read from the wall clock as it is now. Each tick waits a random delay (jitter, at most a
// quarter of the app's period) so that apps on the same schedule do not hit the registry at once.
import { createTask, type ScheduledTask } from "node-cron";
import { monotonicNow, type MonotonicClock } from "../clock.js";
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";

export interface Poller {
  start(): void;
  stop(): Promise<void>;
  nextRun(app: string): string | undefined;
}

export interface PollerOptions {
  /** The monotonic clock; the wall clock is Date's, which node-cron reads for the next slot. */
  now?: MonotonicClock;
  random?: () => number;
}

/**
 * The longest one timer waits: a slot further away is looked at again this often, so that a jump
 * of the wall clock past it is noticed within this time rather than when the old wait ends.
 */
export const RECHECK_MS = 30_000;

/** How far the wall clock may drift from the monotonic one over one wait before it counts as a jump. */
const JUMP_MS = 2_000;

/** The delay before a tick's poll: uniform in [0, min(jitter, period / 4)). */
export function jitterMs(jitter: number, periodMs: number, random: () => number = Math.random): number {
  const cap = Math.min(jitter, Math.max(0, periodMs / 4));
  return Math.floor(random() * cap);
}

interface Schedule {
  app: string;
  /** Never started: node-cron's runner is not used, only its parser and calendar. */
  cron: ScheduledTask;
  /** The wall-clock time of the tick waited for, and the gap to the slot after it. */
  slot: Date;
  periodMs: number;
  /** When the wait began, on both clocks, and how long it was meant to last. */
  armedAtMs: number;
  armedWallMs: number;
  waitMs: number;
  timer?: NodeJS.Timeout | undefined;
  /** A poll (with its jitter wait) is under way: a tick meanwhile is skipped, as node-cron's noOverlap did. */
  busy: boolean;
  /** Monotonic time the running poll began, and whether its overrun was reported. */
  busySinceMs: number;
  overrunWarned: boolean;
}

/**
 * A poll still running this long (and over two of its periods) is reported: its registry check and
 * any deploy that follows have deadlines of their own, so one that outlasts them is stuck, and
 * without the warning its skipped ticks are silent (debug level) for as long as it hangs.
 */
export const OVERRUN_MS = 10 * 60_000;

/** `poll(app)` must not throw; a tick while the app's previous poll still runs is skipped. */
export function createPoller(config: Config, poll: (app: string) => Promise<unknown>, log: Logger, opts: PollerOptions = {}): Poller {
  const now = opts.now ?? monotonicNow;
  const random = opts.random ?? Math.random;
  const schedules = new Map<string, Schedule>();
  const jitterTimers = new Set<NodeJS.Timeout>();
  let stopped = true;

  /** Waits for the next slot after `after` (the slot just run), read from the wall clock as it is now. */
  function arm(s: Schedule, after?: Date): void {
    const [first, second, third] = s.cron.getNextRuns(3) as [Date, Date, Date];
    // A timer fires on the monotonic clock, which may be a hair ahead of the wall clock: the slot
    // just run can still be "next", and must not run twice.
    const [slot, following] = after !== undefined && first.getTime() === after.getTime() ? [second, third] : [first, second];
    s.slot = slot;
    s.periodMs = following.getTime() - slot.getTime();
    s.armedAtMs = now();
    s.armedWallMs = Date.now();
    s.waitMs = Math.max(0, slot.getTime() - s.armedWallMs);
    wait(s, s.waitMs);
  }

  function wait(s: Schedule, ms: number): void {
    if (stopped) return;
    s.timer = setTimeout(() => wake(s), Math.min(ms, RECHECK_MS));
  }

  function wake(s: Schedule): void {
    s.timer = undefined;
    // Node's timers count whole milliseconds: less than one left is due now.
    const remaining = remainingMs(s);
    if (remaining >= 1) return wait(s, remaining);
    const jumpMs = Date.now() - s.armedWallMs - (now() - s.armedAtMs);
    if (Math.abs(jumpMs) > JUMP_MS) {
      log.info({ app: s.app, jumpMs: Math.round(jumpMs) }, "the wall clock jumped; one poll now, then on schedule from the new time");
    }
    tick(s);
    arm(s, s.slot);
  }

  /** Until the slot: whichever comes first of the wall clock reaching it and the armed wait passing. */
  function remainingMs(s: Schedule): number {
    return Math.min(s.slot.getTime() - Date.now(), s.waitMs - (now() - s.armedAtMs));
  }

  function jitterWait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        jitterTimers.delete(t);
        resolve();
      }, ms);
      jitterTimers.add(t);
    });
  }

  function tick(s: Schedule): void {
    if (s.busy) {
      const runningMs = now() - s.busySinceMs;
      if (!s.overrunWarned && runningMs >= Math.max(OVERRUN_MS, 2 * s.periodMs)) {
        s.overrunWarned = true;
        log.warn({ app: s.app, runningForMs: Math.round(runningMs) }, "a poll has run for longer than its deadlines allow; the app's scheduled polls wait until it ends");
      } else log.debug({ app: s.app }, "previous poll still running; tick skipped");
      return;
    }
    s.busy = true;
    s.busySinceMs = now();
    void (async () => {
      try {
        const delayMs = jitterMs(config.poll.jitter, s.periodMs, random);
        if (delayMs > 0) await jitterWait(delayMs);
        if (stopped) return;
        await poll(s.app);
      } catch (err) {
        log.error({ app: s.app, err: (err as Error).message }, "poll crashed");
      } finally {
        s.busy = false;
        if (s.overrunWarned) log.info({ app: s.app, ranForMs: Math.round(now() - s.busySinceMs) }, "the long poll ended; scheduled polls go on");
        s.overrunWarned = false;
      }
    })();
  }

  for (const [app, cfg] of Object.entries(config.apps)) {
    const cron = createTask(cfg.schedule, () => {}, { name: `poll-${app}` });
    schedules.set(app, { app, cron, slot: new Date(0), periodMs: 60_000, armedAtMs: 0, armedWallMs: 0, waitMs: 0, busy: false, busySinceMs: 0, overrunWarned: false });
  }
  return {
    start() {
      stopped = false;
      for (const s of schedules.values()) arm(s);
    },
    async stop() {
      stopped = true;
      for (const s of schedules.values()) clearTimeout(s.timer);
      for (const t of jitterTimers) clearTimeout(t);
      for (const s of schedules.values()) await s.cron.destroy();
    },
    nextRun(app) {
      const s = schedules.get(app);
      if (s === undefined || stopped) return undefined;
      // After a jump backwards the slot lies far ahead on the wall clock, but the tick comes when the wait ends.
      const byWait = s.waitMs - (now() - s.armedAtMs);
      const bySlot = s.slot.getTime() - Date.now();
      return bySlot <= byWait + 1_000 ? s.slot.toISOString() : new Date(Date.now() + Math.max(0, byWait)).toISOString();
    },
  };
}
