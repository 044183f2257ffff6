// The opt-in TCP listener (docs/design.md#http-listener): POST /hooks/<app> starts a check of that
// app as `agentctl check <app>` does, GET /healthz says whether the daemon serves, GET /metrics
// hands over a MetricsSource's text. Every answer is a fixed text: nothing a caller sent is echoed.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { formatListen, type ListenAddress } from "../config/listen.js";
import { DEFAULT_MAX_CONNECTIONS, clientErrorAnswer, limitConnections, requestTimeouts } from "../control/limits.js";
import { AgentError } from "../errors.js";
import type { Logger, Secret } from "../log.js";
import { DEFAULT_HOOK_RATE, TokenBuckets, type RateLimit } from "./rate-limit.js";
import { RefusalLog } from "./refusals.js";
import { signatureMatches } from "./signature.js";
import type { MetricsSource } from "../metrics/metrics.js";

export type { MetricsSource } from "../metrics/metrics.js";

/**
 * GitHub caps a webhook payload at 25 MB, but the events that announce a pushed image
 * (`registry_package`, `package`) are a few KiB, and the body is only signed, never read: 1 MiB
 * leaves room for any of them while bounding what one request can make the daemon hash.
 */
export const MAX_HOOK_BODY_BYTES = 1024 * 1024;

export interface HttpListenerOptions {
  listen: ListenAddress;
  /** The key that signs hook bodies; without it /hooks/ answers 404 like any unknown path. */
  hookSecret?: Secret;
  /** Whether `app` is configured. */
  isApp(app: string): boolean;
  /** Starts a check of `app` and returns at once; the check's outcome goes to the journal and history. */
  check(app: string): void;
  /** False once the daemon is stopping: /healthz answers 503 and hooks start nothing. */
  ready(): boolean;
  metrics?: MetricsSource;
  log: Logger;
  maxConnections?: number;
  maxBodyBytes?: number;
  rate?: RateLimit;
}

export interface HttpListener {
  /** The address bound (the port is the kernel's choice when listen asked for 0). */
  address: ListenAddress;
  close(): Promise<void>;
}

const HOOK_PATH = /^\/hooks\/([a-z0-9][a-z0-9-]{0,62})$/;

export async function startHttpListener(opts: HttpListenerOptions): Promise<HttpListener> {
  const { log } = opts;
  const maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const buckets = new TokenBuckets(opts.rate ?? DEFAULT_HOOK_RATE);
  const refusals = new RefusalLog(log);
  const server = createServer(requestTimeouts(), (req, res) => {
    res.on("error", (err) => log.debug({ err }, "http response could not be written"));
    if (isRefused(req.socket)) return answer(res, 503, "busy", { Connection: "close" }, req);
    handle(req, res, opts, buckets, refusals).catch((err: unknown) => {
      log.error({ err }, "http request failed");
      answer(res, 500, "internal error", { Connection: "close" }, req);
    });
  });
  const isRefused = limitConnections(server, maxConnections, log, "http listener");
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    log.debug({ code: err.code }, "http client sent a malformed or incomplete request");
    if (socket.writable) socket.end(clientErrorAnswer(err));
    else socket.destroy();
  });
  await listen(server, opts.listen);
  const bound = server.address();
  const address = typeof bound === "object" && bound !== null ? { host: opts.listen.host, port: bound.port } : opts.listen;
  log.info({ listen: formatListen(address), hooks: opts.hookSecret !== undefined, metrics: opts.metrics !== undefined }, "http listener open");
  let closing: Promise<void> | undefined;
  return {
    address,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}

function listen(server: ReturnType<typeof createServer>, at: ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) => reject(listenError(err, at)));
    server.listen({ host: at.host, port: at.port, exclusive: true }, () => resolve());
  });
}

function listenError(err: NodeJS.ErrnoException, at: ListenAddress): AgentError {
  const where = formatListen(at);
  const why: Record<string, [string, string]> = {
    EADDRINUSE: [`${where} is already in use by another process`, `ss -ltnp 'sport = :${at.port}' shows which; pick another port in http.listen`],
    EADDRNOTAVAIL: [`${where} is not an address of this host`, "use 127.0.0.1, or an address `ip addr` lists"],
    EACCES: [`port ${at.port} needs privileges this process lacks`, "use a port above 1023"],
  };
  const [message, hint] = why[err.code ?? ""] ?? [`cannot listen on ${where} (${err.code ?? err.message})`, "check http.listen"];
  return new AgentError("CONFIG_INVALID", `http.listen: ${message}`, { hint, cause: err });
}

async function handle(req: IncomingMessage, res: ServerResponse, opts: HttpListenerOptions, buckets: TokenBuckets, refusals: RefusalLog): Promise<void> {
  const path = (req.url ?? "").split("?")[0] ?? "";
  if (path === "/healthz") {
    if (!isRead(req)) return answer(res, 405, "method not allowed", { Allow: "GET, HEAD" }, req);
    return opts.ready() ? answer(res, 200, "ok", {}, req) : answer(res, 503, "stopping", {}, req);
  }
  if (path === "/metrics" && opts.metrics !== undefined) {
    if (!isRead(req)) return answer(res, 405, "method not allowed", { Allow: "GET, HEAD" }, req);
    req.resume();
    const text = await opts.metrics.text();
    res.writeHead(200, { "Content-Type": opts.metrics.contentType, "Content-Length": Buffer.byteLength(text), "Cache-Control": "no-store" });
    res.end(req.method === "HEAD" ? undefined : text);
    return;
  }
  const hook = HOOK_PATH.exec(path);
  if (hook === null || opts.hookSecret === undefined) return answer(res, 404, "not found", {}, req);
  return hookRequest(req, res, hook[1]!, opts.hookSecret, opts, buckets, refusals);
}

/** The hook's answers in the order that keeps app names secret: nothing about the app before the signature. */
async function hookRequest(
  req: IncomingMessage,
  res: ServerResponse,
  app: string,
  secret: Secret,
  opts: HttpListenerOptions,
  buckets: TokenBuckets,
  refusals: RefusalLog,
): Promise<void> {
  if (req.method !== "POST") return answer(res, 405, "method not allowed", { Allow: "POST" }, req);
  if (!opts.ready()) return answer(res, 503, "stopping", {}, req);
  const max = opts.maxBodyBytes ?? MAX_HOOK_BODY_BYTES;
  const body = await readBody(req, max);
  if (body === "aborted") return;
  if (body === "too-large") {
    refusals.refused("hook refused: body over the limit", { max });
    return answer(res, 413, "payload too large", { Connection: "close" }, req);
  }
  if (!signatureMatches(secret.reveal(), body, req.headers["x-hub-signature-256"])) {
    refusals.refused("hook refused: signature missing or wrong", { remote: req.socket.remoteAddress });
    return answer(res, 401, "signature missing or wrong", {}, req);
  }
  if (!opts.isApp(app)) {
    refusals.refused("hook refused: signed, but for an app not configured", { remote: req.socket.remoteAddress });
    return answer(res, 404, "not found", {}, req);
  }
  const take = buckets.take(app);
  if (!take.ok) {
    refusals.refused("hook refused: called too often", { app, retryAfterS: take.retryAfterS });
    return answer(res, 429, "too many requests", { "Retry-After": String(take.retryAfterS) }, req);
  }
  opts.log.info({ app, remote: req.socket.remoteAddress }, "hook: checking now");
  opts.check(app);
  answer(res, 202, "check started", {}, req);
}

const isRead = (req: IncomingMessage): boolean => req.method === "GET" || req.method === "HEAD";

/**
 * The raw body (its exact bytes are what was signed), "too-large" as soon as it passes `max` (a
 * declared Content-Length over it is refused before any byte is read), or "aborted" when the
 * client went away or the request timed out (the timeout's 408 is written by `clientError`).
 */
function readBody(req: IncomingMessage, max: number): Promise<Buffer | "too-large" | "aborted"> {
  if (Number(req.headers["content-length"] ?? 0) > max) return Promise.resolve("too-large");
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= max) return void chunks.push(chunk);
      req.off("data", onData);
      resolve("too-large");
    };
    req.on("data", onData);
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("close", () => resolve("aborted"));
    req.on("error", () => resolve("aborted"));
  });
}

/** A fixed plain-text answer; what is left of the request is drained, or dropped with the connection. */
function answer(res: ServerResponse, status: number, text: string, headers: Record<string, string>, req: IncomingMessage): void {
  if (res.headersSent) return void res.end();
  const body = `${text}\n`;
  res.writeHead(status, {
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    ...headers,
  });
  res.end(req.method === "HEAD" ? undefined : body);
  // With Connection: close Node ends the socket once the answer is out, unread body and all.
  if (headers.Connection !== "close") req.resume();
}
