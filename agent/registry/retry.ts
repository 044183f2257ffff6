// When to try a registry again: Retry-After parsing (header and GHCR's body form), exponential
// backoff with jitter, and a per-host "not before" time so one rate-limited host is left alone.

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
 * (a Go duration; protocols.md B2). Undefined when neither says anything usable.
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

/**
 * Per-host earliest time of the next request. Set from a Retry-After (or a backoff) so that other
 * calls to the same host during that window fail fast instead of spending its rate limit again.
 */
export class HostBackoff {
  readonly #notBefore = new Map<string, number>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Milliseconds left before `host` may be called again; 0 when it may be called now. */
  remainingMs(host: string): number {
    const until = this.#notBefore.get(host);
    if (until === undefined) return 0;
    const left = until - this.now();
    if (left <= 0) this.#notBefore.delete(host);
    return Math.max(0, left);
  }

  /** Holds `host` off for `delayMs`, never shortening a longer hold already in place. */
  holdOff(host: string, delayMs: number): void {
    const until = this.now() + delayMs;
    this.#notBefore.set(host, Math.max(until, this.#notBefore.get(host) ?? 0));
  }

  clear(host: string): void {
    this.#notBefore.delete(host);
  }
}
