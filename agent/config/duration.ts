// Durations in agent.yaml ("500ms", "10s", "2m", "1h"), each key with bounds of its own: a value
// that could only fail later (a 0 s health deadline, a timer Node cannot hold) is refused at start.
import { z } from "zod";

/** Surrounding blanks are allowed, as trim() would drop them; as a zod regex it also becomes the JSON Schema's pattern. */
const DURATION_RE = /^\s*(\d+(?:\.\d+)?)(ms|s|m|h)\s*$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/**
 * The longest delay setTimeout holds: a longer one fires at once (Node warns and uses 1 ms;
 * https://nodejs.org/api/timers.html#settimeoutcallback-delay-args). Every bound below stays
 * under it, which also keeps the Engine's nanosecond fields (health Interval, Timeout,
 * StartPeriod: int64 ns) far from overflowing and exact as JS numbers (2^31 ms × 10^6 < 2^53).
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Parses "500ms", "10s", "2m", "1h" into milliseconds; undefined when malformed. */
export function parseDurationMs(text: string): number | undefined {
  const m = DURATION_RE.exec(text);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]);
}

/** Milliseconds in the largest unit that writes them exactly: 3600000 → "1h", 1500 → "1500ms". */
export function formatDurationMs(ms: number): string {
  for (const unit of ["h", "m", "s"] as const) {
    if (ms !== 0 && ms % UNIT_MS[unit] === 0) return `${ms / UNIT_MS[unit]}${unit}`;
  }
  return ms === 0 ? "0s" : `${ms}ms`;
}

export interface DurationBounds {
  minMs: number;
  maxMs: number;
}

/** A duration written as "10s" in YAML, a number of milliseconds once parsed, within `bounds`. */
export function duration(bounds: DurationBounds) {
  if (bounds.maxMs > MAX_TIMER_MS) throw new RangeError(`duration bound ${bounds.maxMs}ms exceeds what a timer holds`);
  const range = `between ${formatDurationMs(bounds.minMs)} and ${formatDurationMs(bounds.maxMs)}`;
  return z
    .string({ error: 'expected a duration such as "10s", "500ms" or "2m"' })
    .regex(DURATION_RE, { error: (issue) => `expected a duration such as "10s", "500ms" or "2m", got "${String(issue.input)}"` })
    .describe(`a duration such as "10s", "500ms" or "2m", ${range}`)
    .transform((text, ctx) => {
      // The regex above has matched, so the text parses.
      const ms = parseDurationMs(text) ?? Number.NaN;
      if (!(ms >= bounds.minMs && ms <= bounds.maxMs)) {
        ctx.addIssue({ code: "custom", message: `must be ${range}, got ${text}` });
        return z.NEVER;
      }
      return ms;
    });
}

/** Bounds per key, in one place so the README's table and the tests can name them. */
export const DURATION_BOUNDS = {
  /** Green must get at least a second to start; an hour without health is a broken release. */
  startTimeout: { minMs: 1_000, maxMs: 3_600_000 },
  /** Docker forks the check every interval: faster than 100 ms is a fork storm. */
  interval: { minMs: 100, maxMs: 600_000 },
  drain: { minMs: 0, maxMs: 3_600_000 },
  /** 0 s would SIGKILL blue at once, cutting its in-flight requests. */
  stopTimeout: { minMs: 1_000, maxMs: 600_000 },
  settle: { minMs: 0, maxMs: 300_000 },
  /** The watch after a switch keeps the previous release stopped on the host; a day is plenty to see a release fail. */
  watch: { minMs: 0, maxMs: 86_400_000 },
  dockerTimeout: { minMs: 1_000, maxMs: 600_000 },
  jitter: { minMs: 0, maxMs: 3_600_000 },
  /** Below a second the backoff would not spare a failing registry anything. */
  maxBackoff: { minMs: 1_000, maxMs: 86_400_000 },
  /**
   * 0 is off. At most 24 days (576h): the wait for eligibility is one timer, and a longer one
   * would not fit in what setTimeout holds (MAX_TIMER_MS above).
   */
  minAge: { minMs: 0, maxMs: 576 * 3_600_000 },
  /** A release step (predeploy, postdeploy) runs under the app's deploy lock: a day would hold every deploy of the app up. */
  hookTimeout: { minMs: 1_000, maxMs: 6 * 3_600_000 },
} as const satisfies Record<string, DurationBounds>;

/**
 * A health section (an app's, a role's) whose `interval` is not shorter than its `startTimeout`
 * is refused: Docker runs the first check one interval in, so it never checks in time.
 * `startTimeoutKey` and `subject` word the message for the section.
 */
export function checkedInTime<T extends z.ZodType<{ interval: number; startTimeout: number }>>(schema: T, startTimeoutKey: string, subject: string) {
  return schema.refine((h) => h.interval < h.startTimeout, {
    path: ["interval"],
    error: (issue) => {
      const h = issue.input as { interval: number; startTimeout: number };
      return `${formatDurationMs(h.interval)} must be shorter than ${startTimeoutKey} (${formatDurationMs(h.startTimeout)}), or Docker never checks ${subject} in time`;
    },
  });
}
