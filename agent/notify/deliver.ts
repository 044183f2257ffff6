// One event to one target: render, sign, POST, and try again while the failure may pass
// (retry.ts). Never throws: the result says what happened.
import { request } from "undici";
import type { NotifyTarget } from "../config/schema.js";
import type { Secret } from "../log.js";
import { linkedSignal } from "../abort.js";
import { sleep } from "../sleep.js";
import { cleanText } from "../text.js";
import type { TargetResult } from "./event.js";
import { SIGNATURE_HEADER, render, signature, type NotifyDocument } from "./render.js";
import { retryDelay, type Attempt, type DeliveryPolicy } from "./retry.js";

/** A target as messages name it: scheme and host only, as its path or query may hold a token. */
export function targetName(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

export interface ArmedTarget extends NotifyTarget {
  /** The signing key read from `secretFile` at start; a Secret, so no log or dump shows it. */
  secret?: Secret;
}

export interface DeliverOptions {
  policy: DeliveryPolicy;
  /** Aborted at shutdown: the attempt under way ends and no further one starts. */
  signal: AbortSignal;
  userAgent: string;
}

export async function deliver(t: ArmedTarget, doc: NotifyDocument, opts: DeliverOptions): Promise<TargetResult> {
  const rendered = render(t.format, doc);
  const headers: Record<string, string> = { "content-type": rendered.contentType, "user-agent": opts.userAgent, ...rendered.headers };
  if (t.secret !== undefined) headers[SIGNATURE_HEADER] = signature(rendered.body, t.secret.reveal());
  const base = { target: targetName(t.url), format: t.format };
  let attempts = 0;
  for (;;) {
    attempts++;
    const a = await attempt(t.url, rendered.body, headers, opts);
    if (a.ok) return { ...base, ok: true, ...(a.status !== undefined ? { status: a.status } : {}), attempts };
    const wait = opts.signal.aborted ? undefined : retryDelay(a, attempts + 1, opts.policy);
    if (wait === undefined) return { ...base, ok: false, ...(a.status !== undefined ? { status: a.status } : {}), ...(a.error ? { error: a.error } : {}), attempts };
    await sleep(wait, opts.signal);
  }
}

async function attempt(url: string, body: string, headers: Record<string, string>, opts: DeliverOptions): Promise<Attempt> {
  const { timeoutMs } = opts.policy;
  // Not AbortSignal.any: on Node 20 it keeps every signal it makes referenced from the daemon's
  // stop signal (agent/abort.ts), one per attempt for the life of the daemon.
  const linked = linkedSignal(opts.signal, timeoutMs);
  try {
    const res = await request(url, { method: "POST", headers, body, signal: linked.signal, headersTimeout: timeoutMs, bodyTimeout: timeoutMs });
    // The answer's body is not read: a target's text could hold anything, and is not needed.
    await res.body.dump({ limit: 64 * 1024 }).catch(() => undefined);
    const status = res.statusCode;
    if (status >= 200 && status < 300) return { ok: true, status };
    const retryAfter = res.headers["retry-after"];
    return { ok: false, status, error: `HTTP ${status}`, ...(typeof retryAfter === "string" ? { retryAfter } : {}) };
  } catch (err) {
    return { ok: false, error: attemptError(err, timeoutMs, opts.signal) };
  } finally {
    linked.dispose();
  }
}

/** The failure in a few words, without the URL (undici's messages may carry it, and with it a token). */
function attemptError(err: unknown, timeoutMs: number, stop: AbortSignal): string {
  if (stop.aborted) return "not delivered: the agent is stopping";
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  if (e.name === "TimeoutError" || e.code === "UND_ERR_HEADERS_TIMEOUT" || e.code === "UND_ERR_BODY_TIMEOUT") return `no answer within ${timeoutMs / 1000}s`;
  const code = e.cause?.code ?? e.code;
  return code ? `connection failed (${cleanText(code, 64)})` : "connection failed";
}
