// The only place undici is called. Every request carries a deadline (AbortSignal.timeout plus the
// Agent's connect/headers/body timeouts, so undici's 300 s defaults never apply), bodies are capped,
// and idempotent requests are retried on 429/502/503/504 and connection resets within the RetryPolicy (retry.ts).
// Across calls, a host that answers 5xx or cannot be reached is left alone for a growing, jittered
// while (HostBackoff): polls of it fail fast instead of each waiting out the same outage.
import { setTimeout as sleep } from "node:timers/promises";
import { Agent, request } from "undici";
import { monotonicNow, type MonotonicClock } from "../clock.js";
import { AgentError } from "../errors.js";
import type { Logger } from "../log.js";
import {
  DEFAULT_FAILURE_BACKOFF,
  DEFAULT_RETRY_POLICY,
  HostBackoff,
  RETRYABLE_STATUSES,
  backoffDelayMs,
  parseRetryAfter,
  type FailureBackoffPolicy,
  type RetryPolicy,
} from "./retry.js";

export interface HttpRequest {
  /** POST only for the OAuth2 token grant, which is safe to repeat. */
  method: "GET" | "HEAD" | "POST";
  url: URL;
  headers: Record<string, string>;
  body?: string;
  /** Bodies larger than this fail the call; manifests are at most 4 MiB (distribution-spec). */
  maxBytes?: number;
  /** Asked for by a person (agentctl check/deploy): sent even while the host is backed off after failures. */
  manual?: boolean;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface HttpOptions {
  timeoutMs: number;
  log: Logger;
  retry?: RetryPolicy;
  /** The backoff after a host's 5xx answers and network errors; see retry.ts. */
  failureBackoff?: FailureBackoffPolicy;
  /** The clock backoffs run on (monotonic by default: the wall clock jumps at boot on a Pi without RTC). */
  now?: MonotonicClock;
  /** The wall clock, only to read a Retry-After given as an HTTP-date, itself a wall-clock time. */
  wallNow?: () => number;
  /** Told of every request sent, retries included: the answer's status, or "error" when none came (the daemon's metrics). */
  onAnswer?: ((url: URL, status: number | "error") => void) | undefined;
}

const DEFAULT_MAX_BYTES = 4 * 1024 * 1024;
const TIMEOUT_CODES = new Set(["UND_ERR_CONNECT_TIMEOUT", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

/** First value of a response header, lower-case name. */
export function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export class RegistryHttp {
  readonly timeoutMs: number;
  readonly #agent: Agent;
  readonly #log: Logger;
  readonly #retry: RetryPolicy;
  readonly #wallNow: () => number;
  readonly #backoff: HostBackoff;
  readonly #onAnswer: HttpOptions["onAnswer"];

  constructor(opts: HttpOptions) {
    this.timeoutMs = opts.timeoutMs;
    this.#onAnswer = opts.onAnswer;
    this.#log = opts.log;
    this.#retry = opts.retry ?? DEFAULT_RETRY_POLICY;
    this.#wallNow = opts.wallNow ?? Date.now;
    this.#backoff = new HostBackoff(opts.now ?? monotonicNow, opts.failureBackoff ?? DEFAULT_FAILURE_BACKOFF);
    this.#agent = new Agent({
      connect: { timeout: opts.timeoutMs },
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
      keepAliveTimeout: 4_000,
    });
  }

  /**
   * Sends `req`, retrying 429/502/503/504 per the policy; returns the last response, whatever its
   * status. The outcome feeds the host's failure backoff: a 5xx, a 429 without Retry-After or a
   * network error extends it, any other answer ends it.
   */
  async send(req: HttpRequest): Promise<HttpResponse> {
    const host = req.url.host;
    if (!req.manual) this.#refuseWhileFailing(req, host);
    let res: HttpResponse;
    try {
      res = await this.#sendWithRetries(req, host);
    } catch (err) {
      if (UNREACHED.has(err as AgentError)) this.#failed(host, (err as AgentError).message);
      throw err;
    }
    if (res.status < 500 && res.status !== 429) this.#backoff.succeeded(host);
    // A 429 with Retry-After already holds the host off for as long as the registry asked.
    else if (res.status !== 429 || this.#backoff.remainingMs(host) === 0) this.#failed(host, `HTTP ${res.status} to ${describe(req)}`);
    return res;
  }

  /** How much longer scheduled requests to `host` are refused or held (after failures or a Retry-After); 0 when none. */
  heldOffMs(host: string): number {
    return Math.max(this.#backoff.failure(host)?.remainingMs ?? 0, this.#backoff.remainingMs(host));
  }

  #failed(host: string, reason: string): void {
    const delayMs = this.#backoff.failed(host, reason);
    this.#log.debug({ host, delayMs, reason }, "registry failing; backing off");
  }

  /** While `host` is backed off after failures, scheduled polls fail at once, naming the last failure. */
  #refuseWhileFailing(req: HttpRequest, host: string): void {
    const f = this.#backoff.failure(host);
    if (f === undefined) return;
    // Same code as the failure itself: the poll's once-per-episode warning keys on the code.
    throw new AgentError(
      "REGISTRY_UNAVAILABLE",
      `${describe(req)}: not sent; ${host} failed ${f.count} time${f.count === 1 ? "" : "s"} in a row (last: ${f.reason}), next try in ${Math.ceil(f.remainingMs / 1000)}s`,
      { hint: "the agent backs off from a failing registry (at most poll.maxBackoff); agentctl check tries at once" },
    );
  }

  async #sendWithRetries(req: HttpRequest, host: string): Promise<HttpResponse> {
    for (let attempt = 0; ; attempt++) {
      // A person's request goes out at once whatever an earlier Retry-After said; its own retries
      // still wait as the registry asks.
      if (attempt > 0 || !req.manual) await this.#waitForHost(req, host);
      let res: HttpResponse;
      try {
        res = await this.#once(req);
      } catch (err) {
        // A keep-alive connection the server closed while idle fails the next request with a reset;
        // one fresh connection settles that. Timeouts are not retried: the deadline is the deadline.
        if (attempt >= this.#retry.retries || !isConnectionReset(err)) throw err;
        this.#log.debug({ host, attempt: attempt + 1 }, "registry connection reset; retrying");
        await sleep(backoffDelayMs(attempt, this.#retry));
        continue;
      }
      if (!RETRYABLE_STATUSES.has(res.status)) return res;
      const retryAfterMs = parseRetryAfter(header(res, "retry-after"), res.body.toString("utf8", 0, 4096), this.#wallNow());
      const heldMs = retryAfterMs === undefined ? undefined : this.#backoff.holdOff(host, retryAfterMs);
      const delayMs = heldMs ?? backoffDelayMs(attempt, this.#retry);
      if (attempt >= this.#retry.retries || delayMs > this.#retry.maxDelayMs) return res;
      this.#log.debug({ host, status: res.status, attempt: attempt + 1, delayMs }, "registry busy; retrying");
      if (heldMs === undefined) await sleep(delayMs);
    }
  }

  async close(): Promise<void> {
    await this.#agent.close();
  }

  /** Honours a hold set by an earlier Retry-After from `host`: waits if short, fails fast if not. */
  async #waitForHost(req: HttpRequest, host: string): Promise<void> {
    const waitMs = this.#backoff.remainingMs(host);
    if (waitMs === 0) return;
    if (waitMs > this.#retry.maxDelayMs) {
      throw new AgentError("REGISTRY_UNAVAILABLE", `${describe(req)}: ${host} asked for no requests for another ${Math.ceil(waitMs / 1000)}s (Retry-After, held at most poll.maxBackoff); not sent`, {
        hint: "the registry is rate limiting this host; the agent tries again on a later poll, and agentctl check tries at once",
      });
    }
    await sleep(waitMs);
  }

  async #once(req: HttpRequest): Promise<HttpResponse> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    let answered = false;
    try {
      const res = await request(req.url, { method: req.method, headers: req.headers, body: req.body ?? null, dispatcher: this.#agent, signal });
      answered = true;
      this.#onAnswer?.(req.url, res.statusCode);
      const body = await readCapped(res.body, req.maxBytes ?? DEFAULT_MAX_BYTES, describe(req));
      return { status: res.statusCode, headers: res.headers, body };
    } catch (err) {
      if (err instanceof AgentError) throw err;
      // A body cut off by a reset or timeout after the status came was counted once, as that status.
      if (!answered) this.#onAnswer?.(req.url, "error");
      throw this.#networkError(req, err, signal);
    }
  }

  #networkError(req: HttpRequest, err: unknown, signal: AbortSignal): AgentError {
    const e = err as { name?: string; code?: string; message?: string };
    const timedOut = signal.aborted || e.name === "TimeoutError" || TIMEOUT_CODES.has(e.code ?? "");
    const why = timedOut ? `no answer within ${this.timeoutMs}ms` : `${e.code ?? e.name ?? "error"}: ${e.message ?? String(err)}`;
    const error = new AgentError("REGISTRY_UNAVAILABLE", `${describe(req)}: ${why}`, {
      cause: err,
      hint: `check that ${req.url.host} is reachable from this host; the agent tries again on its next poll`,
    });
    UNREACHED.add(error);
    return error;
  }
}

/** Errors of requests that reached no answer (timeouts, refused or reset connections): they count as host failures. */
const UNREACHED = new WeakSet<AgentError>();

/** Errors of answers cut off at `maxBytes`, so a caller can name its own limit. */
const TOO_LARGE = new WeakSet<AgentError>();

/** Whether `err` is a response that exceeded the request's `maxBytes`. */
export function isTooLarge(err: unknown): boolean {
  return err instanceof AgentError && TOO_LARGE.has(err);
}

const RESET_CODES = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET"]);

function isConnectionReset(err: unknown): boolean {
  const cause = err instanceof AgentError ? err.cause : err;
  return RESET_CODES.has((cause as { code?: string } | undefined)?.code ?? "");
}

function describe(req: HttpRequest): string {
  return `${req.method} ${req.url.origin}${req.url.pathname}`;
}

async function readCapped(body: AsyncIterable<Buffer> & { destroy(): unknown }, maxBytes: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) {
      body.destroy();
      const error = new AgentError("REGISTRY_UNAVAILABLE", `${what}: response larger than ${maxBytes} bytes`);
      TOO_LARGE.add(error);
      throw error;
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
