// How often one app's hook may start a check: a token bucket per app. A CI run or a webhook sends
// one or two calls per push; more than a few a minute is a loop or an attack, and every check is a
// registry request the registry may count against the host's rate limit.

export interface RateLimit {
  /** Calls allowed at once after a quiet spell. */
  burst: number;
  /** One call is given back every `refillMs`. */
  refillMs: number;
}

/** Five calls, then one more every 12 s: five a minute. */
export const DEFAULT_HOOK_RATE: RateLimit = { burst: 5, refillMs: 12_000 };

export type Take = { ok: true } | { ok: false; retryAfterS: number };

export class TokenBuckets {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(
    readonly limit: RateLimit = DEFAULT_HOOK_RATE,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes one call for `key`, or says how many whole seconds until the next one is allowed. */
  take(key: string): Take {
    const now = this.now();
    const { burst, refillMs } = this.limit;
    const b = this.#buckets.get(key) ?? { tokens: burst, at: now };
    // A clock that steps back gives nothing back rather than a negative refill.
    const elapsed = Math.max(0, now - b.at);
    const refilled = Math.floor(elapsed / refillMs);
    if (refilled > 0) {
      b.tokens = Math.min(burst, b.tokens + refilled);
      b.at = b.tokens === burst ? now : b.at + refilled * refillMs;
    } else if (now < b.at) {
      b.at = now;
    }
    this.#buckets.set(key, b);
    if (b.tokens > 0) {
      b.tokens--;
      return { ok: true };
    }
    return { ok: false, retryAfterS: Math.max(1, Math.ceil((b.at + refillMs - now) / 1000)) };
  }
}
