// Durations and deadlines run on the monotonic clock. A Raspberry Pi has no real-time clock: its
// wall clock jumps when NTP first syncs after boot, by hours or years, forwards or back. A deadline
// kept on Date.now() would end a 60 s health wait at once after a jump forwards, or stretch it by
// the jump after one backwards. Timestamps people read and the state file keeps stay wall-clock
// ISO strings; only elapsed times and deadlines use this clock (docs/design.md#clocks).

/**
 * Milliseconds on a clock that only moves forwards at a steady rate (CLOCK_MONOTONIC, through
 * libuv's uv_hrtime: https://nodejs.org/api/perf_hooks.html#performancenow). Its zero is
 * arbitrary: compare two readings, never show one as a date. Node's timers run on the same clock.
 */
export type MonotonicClock = () => number;

export const monotonicNow: MonotonicClock = () => performance.now();

/** Time elapsed since it was made, on `now`. */
export interface Stopwatch {
  elapsedMs(): number;
  /** "3.2s": how the deploy steps report what they took. */
  seconds(): string;
}

export function stopwatch(now: MonotonicClock = monotonicNow): Stopwatch {
  const started = now();
  const elapsedMs = () => now() - started;
  return { elapsedMs, seconds: () => `${(elapsedMs() / 1000).toFixed(1)}s` };
}

/** A point `ms` from now on `now`; a wait asks it how long is left. */
export interface Deadline extends Stopwatch {
  readonly ms: number;
  /** Milliseconds left, 0 once passed. */
  remainingMs(): number;
  passed(): boolean;
}

export function deadline(ms: number, now: MonotonicClock = monotonicNow): Deadline {
  const watch = stopwatch(now);
  const remainingMs = () => Math.max(0, ms - watch.elapsedMs());
  return { ...watch, ms, remainingMs, passed: () => remainingMs() === 0 };
}
