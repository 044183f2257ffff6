// When a failed delivery is tried again, and after how long. Only what may pass is retried: no
// answer, 408, 429 and 5xx. A 4xx says the request itself is wrong (a deleted webhook, a bad token),
// and the same request would fail the same way.

export interface DeliveryPolicy {
  /** Attempts per event and target, the first included. */
  attempts: number;
  /** How long one attempt may take, connection to last byte. */
  timeoutMs: number;
  /** The wait before the second attempt; it doubles per attempt, jittered between half and all of it. */
  baseDelayMs: number;
  /** The longest wait between attempts, a 429's Retry-After included. */
  maxDelayMs: number;
}

export const DEFAULT_DELIVERY_POLICY: DeliveryPolicy = { attempts: 3, timeoutMs: 10_000, baseDelayMs: 1000, maxDelayMs: 30_000 };

/** What one attempt came to. */
export interface Attempt {
  ok: boolean;
  status?: number;
  error?: string;
  /** The answer's Retry-After header, as sent. */
  retryAfter?: string;
}

/** True when the same request may pass later: no answer at all, 408, 429 or 5xx. */
export function mayPass(a: Attempt): boolean {
  if (a.ok) return false;
  if (a.status === undefined) return true;
  return a.status === 408 || a.status === 429 || a.status >= 500;
}

/**
 * Milliseconds to wait before attempt `next` (2 for the first retry), or undefined when there is
 * none: the attempts are used up or the failure cannot pass. A Retry-After (seconds or an HTTP date,
 * https://www.rfc-editor.org/rfc/rfc9110#field.retry-after) is honoured up to `maxDelayMs`.
 */
export function retryDelay(a: Attempt, next: number, policy: DeliveryPolicy, nowMs = Date.now(), random = Math.random): number | undefined {
  if (next > policy.attempts || !mayPass(a)) return undefined;
  const asked = a.retryAfter !== undefined ? retryAfterMs(a.retryAfter, nowMs) : undefined;
  if (asked !== undefined) return Math.min(asked, policy.maxDelayMs);
  const full = Math.min(policy.baseDelayMs * 2 ** (next - 2), policy.maxDelayMs);
  return Math.round(full / 2 + (random() * full) / 2);
}

/** A Retry-After value in milliseconds from now; undefined when it is neither seconds nor a date. */
export function retryAfterMs(value: string, nowMs: number): number | undefined {
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
