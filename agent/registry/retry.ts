// When to try a registry again: Retry-After parsing (header and GHCR's body form), exponential
// backoff with jitter, and a per-host "not before" time so one rate-limited host is left alone.
import { monotonicNow, type MonotonicClock } from "../clock.js";

/** Statuses worth another attempt of an idempotent request: rate limit and transient upstream failures. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

export interface RetryPolicy {
  /** Further attempts after the first; 0 disables retrying. */
  retries: number;
  /** First backoff delay; doubles per attempt. */
  baseDelayMs: number;
  /** The longest the client waits in one go; a longer Retry-After fails the call instead. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { retries: 2, baseDelayMs: 500, maxDelayMs: 10_000 };

const UNIT_MS: Record<string, number> = { ns: 1e-6, "µs": 1e-3, "μs": 1e-3, us: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Milliseconds to wait, from `Retry-After` (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) or,
 * failing that, from GHCR's 429 body `toomanyrequests: retry-after: 880.092µs, allowed: 44000/minute`
 * (a Go duration; docs/design.md#retry-after). Undefined when neither says anything usable.
 */
export function parseRetryAfter(header: string | undefined, body: string | undefined, nowMs: number): number | undefined {
  const value = header?.trim();
  if (value) {
    if (/^\d+$/.test(value)) return Number(value) * 1000;
    const date = Date.parse(value);
    if (!Number.isNaN(date)) return Math.max(0, date - nowMs);
  }
  const m = /retry-after:\s*((?:\d+(?:\.\d+)?(?:ns|µs|μs|us|ms|s|m|h))+)/i.exec(body ?? "");
  return m ? goDurationMs(m[1] as string) : undefined;
}

/** Go's `time.Duration.String()` form: `1m30.5s`, `880.092µs`, `2h`. */
export function goDurationMs(text: string): number | undefined {
  let total = 0;
  let matched = "";
  for (const part of text.matchAll(/(\d+(?:\.\d+)?)(ns|µs|μs|us|ms|s|m|h)/g)) {
    total += Number(part[1]) * (UNIT_MS[part[2] as string] as number);
    matched += part[0];
  }
  return matched === text && matched !== "" ? total : undefined;
}

/**
 * "Full jitter" exponential backoff (AWS architecture blog, "Exponential Backoff And Jitter"):
 * uniform in [0, min(max, base·2^attempt)], so many agents hitting one registry spread out.
 */
export function backoffDelayMs(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(ceiling * random());
}

/** How long the agent leaves a failing registry alone: doubling from `initialMs`, at most `maxMs`. */
export interface FailureBackoffPolicy {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_FAILURE_BACKOFF: FailureBackoffPolicy = { initialMs: 5_000, maxMs: 300_000 };

/**
 * "Equal jitter" (same AWS article): uniform in [c/2, c] with c = min(max, initial·2^(failures-1)),
 * so a host that keeps failing is left alone for at least half the ceiling, and many agents spread out.
 */
export function failureDelayMs(failures: number, policy: FailureBackoffPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/** A registry host's run of failures: how many in a row, the last one, and until when it is left alone. */
export interface HostFailure {
  count: number;
  reason: string;
  remainingMs: number;
}

/**
 * Per host: the earliest time of the next request the registry itself asked for (Retry-After), and
 * the agent's own backoff after 5xx answers and network errors. Calls during either window fail
 * fast instead of spending the rate limit again or waiting out another timeout.
 */
export class HostBackoff {
  readonly #notBefore = new Map<string, number>();
  readonly #failures = new Map<string, { count: number; reason: string; until: number }>();

  constructor(
    private readonly now: MonotonicClock = monotonicNow,
    private readonly policy: FailureBackoffPolicy = DEFAULT_FAILURE_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /** Milliseconds left before `host` may be called again after a Retry-After; 0 when it may be called now. */
  remainingMs(host: string): number {
    const until = this.#notBefore.get(host);
    if (until === undefined) return 0;
    const left = until - this.now();
    if (left <= 0) this.#notBefore.delete(host);
    return Math.max(0, left);
  }

  /**
   * Holds `host` off for `delayMs`, at most the policy's `maxMs` (poll.maxBackoff), never shortening
   * a longer hold already in place. The cap keeps a registry's `Retry-After: 86400`, or a wrong
   * clock in its HTTP-date, from silencing polls for longer than the operator allowed.
   */
  holdOff(host: string, delayMs: number): number {
    const held = Math.min(delayMs, this.policy.maxMs);
    const until = this.now() + held;
    this.#notBefore.set(host, Math.max(until, this.#notBefore.get(host) ?? 0));
    return held;
  }

  /** Records one more failure in a row of `host`; returns how long it is now left alone. */
  failed(host: string, reason: string): number {
    const count = (this.#failures.get(host)?.count ?? 0) + 1;
    const delay = failureDelayMs(count, this.policy, this.random);
    this.#failures.set(host, { count, reason, until: this.now() + delay });
    return delay;
  }

  /** An answer that shows the host is up (anything but a 5xx or 429) ends its run of failures. */
  succeeded(host: string): void {
    this.#failures.delete(host);
  }

  /** The host's run of failures while its backoff lasts; undefined once it may be tried again. */
  failure(host: string): HostFailure | undefined {
    const f = this.#failures.get(host);
    if (f === undefined) return undefined;
    const remainingMs = f.until - this.now();
    return remainingMs > 0 ? { count: f.count, reason: f.reason, remainingMs } : undefined;
  }
}
