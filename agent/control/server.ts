// The daemon's control socket: an HTTP/1.1 server on a Unix socket (never TCP) exposing an AgentApi
// with the wire format of control/protocol.ts. One line per verb; the verbs' work lives behind `api`.
import { chmod, mkdir, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { z } from "zod";
import { AgentError, toAgentError } from "../errors.js";
import type { Logger } from "../log.js";
import type { AgentApi } from "./api.js";
import { listenPrivately, removeStaleSocket } from "./socket-file.js";
import { DEFAULT_MAX_CONNECTIONS, busyError, clientErrorAnswer, limitConnections, requestTimeouts } from "./limits.js";
import {
  API_PREFIX,
  JSON_CONTENT_TYPE,
  MAX_REQUEST_BYTES,
  NDJSON_CONTENT_TYPE,
  CheckRequest,
  DeployRequest,
  HistoryRequest,
  LogsRequest,
  NotifyRequest,
  ResumeRequest,
  RollbackRequest,
  StatusRequest,
  VERBS,
  describeIssues,
  httpStatusFor,
  isVerb,
  type Verb,
  type WireError,
} from "./protocol.js";

export interface ControlServerOptions {
  socketPath: string;
  api: AgentApi;
  log: Logger;
  /** Mode of the socket file; connecting needs write permission, so 0660 admits owner and group. */
  mode?: number;
  /** Connections served at once; more are refused (see limits.ts). */
  maxConnections?: number;
}

export interface ControlServer {
  /** Stops accepting, removes the socket file, then waits for requests in flight (their deploys finish either way). */
  close(): Promise<void>;
}


type Handler = (req: unknown, res: ServerResponse) => Promise<void>;

export async function startControlServer(opts: ControlServerOptions): Promise<ControlServer> {
  const { socketPath, api, log } = opts;
  const mode = opts.mode ?? 0o660;

  const handlers: Record<Verb, Handler> = {
    deploy: streaming(log, "deploy", DeployRequest, (req, onEvent) => api.deploy(req, onEvent)),
    rollback: streaming(log, "rollback", RollbackRequest, (req, onEvent) => api.rollback(req, onEvent)),
    check: streaming(log, "check", CheckRequest, (req, onEvent) => api.check(req, onEvent)),
    // Reading logs is the one streaming verb whose work is only for the client: it stops when the client goes.
    logs: streaming(log, "logs", LogsRequest, (req, onLine, gone) => api.logs(req, onLine, gone)),
    status: plain(log, "status", StatusRequest, (req) => api.status(req)),
    history: plain(log, "history", HistoryRequest, (req) => api.history(req)),
    resume: plain(log, "resume", ResumeRequest, (req) => api.resume(req)),
    notify: plain(log, "notify", NotifyRequest, (req) => api.notify(req)),
  };

  const maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  const server = createServer(requestTimeouts(), (req, res) => {
    res.on("error", (err) => log.debug({ err, url: req.url }, "control response could not be written"));
    if (isRefused(req.socket)) {
      req.resume();
      res.setHeader("Connection", "close");
      return sendError(res, busyError(maxConnections));
    }
    route(req, res, handlers).catch((err: unknown) => {
      log.error({ err, url: req.url }, "control request failed");
      sendError(res, internalError("the request"));
    });
  });
  const isRefused = limitConnections(server, maxConnections, log);
  server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
    log.debug({ err }, "control client sent a malformed or incomplete request");
    if (socket.writable) socket.end(clientErrorAnswer(err));
    else socket.destroy();
  });

  await mkdir(dirname(socketPath), { recursive: true, mode: 0o755 });
  await removeStaleSocket(socketPath);
  await listenPrivately(server, socketPath, mode);
  await chmod(socketPath, mode);
  log.info({ socket: socketPath, mode: mode.toString(8) }, "control socket listening");

  let closing: Promise<void> | undefined;
  return {
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        // libuv unlinks the path when the listener closes; this covers a path it did not create.
        unlink(socketPath).catch(() => undefined);
      });
      return closing;
    },
  };
}

async function route(req: IncomingMessage, res: ServerResponse, handlers: Record<Verb, Handler>): Promise<void> {
  const path = (req.url ?? "").split("?")[0] ?? "";
  const prefix = `${API_PREFIX}/`;
  if (!path.startsWith(prefix)) {
    req.resume();
    return sendError(res, new AgentError("BAD_ARGUMENT", `unknown path ${path}; this daemon answers ${API_PREFIX}/<verb>`, { hint: "agentctl and deploy-agent versions may differ; reinstall both" }), 404);
  }
  const verb = path.slice(prefix.length);
  if (!isVerb(verb)) {
    req.resume();
    return sendError(res, new AgentError("BAD_ARGUMENT", `unknown verb "${verb}"; verbs: ${VERBS.join(", ")}`), 404);
  }
  if (req.method !== "POST") {
    req.resume();
    res.setHeader("Allow", "POST");
    return sendError(res, new AgentError("BAD_ARGUMENT", `${path} takes POST, not ${req.method ?? "?"}`), 405);
  }
  const body = await readJsonBody(req);
  if (!body.ok) return sendError(res, body.error, body.status);
  await handlers[verb](body.value, res);
}

/** The body as `verb`'s request; a BAD_ARGUMENT naming each bad field otherwise. */
function parseRequest<T>(verb: Verb, schema: z.ZodType<T>, body: unknown): T | AgentError {
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  return new AgentError("BAD_ARGUMENT", `bad ${verb} request: ${describeIssues(parsed.error.issues)}`);
}

function plain<T>(log: Logger, verb: Verb, schema: z.ZodType<T>, call: (req: T) => Promise<unknown>): Handler {
  return async (body, res) => {
    const req = parseRequest(verb, schema, body);
    if (req instanceof AgentError) return sendError(res, req);
    let result: unknown;
    try {
      result = await call(req);
    } catch (err) {
      return sendError(res, wireErrorFrom(log, verb, err));
    }
    sendJson(res, 200, { result });
  };
}

function streaming<T, E>(
  log: Logger,
  verb: Verb,
  schema: z.ZodType<T>,
  call: (req: T, onEvent: (e: E) => void, clientGone: AbortSignal) => Promise<unknown>,
): Handler {
  return async (body, res) => {
    const req = parseRequest(verb, schema, body);
    if (req instanceof AgentError) return sendError(res, req);
    res.writeHead(200, { "Content-Type": NDJSON_CONTENT_TYPE, "Cache-Control": "no-store" });
    res.flushHeaders();
    // A client that goes away (Ctrl-C) only ends the stream: a deploy runs on, and lines for a gone
    // client are dropped here rather than written, so nothing can fail the api call on its behalf.
    const gone = new AbortController();
    res.on("close", () => {
      if (!res.writableFinished) {
        gone.abort();
        log.info({ verb }, verb === "logs" ? "control client went away; its log stream is closed" : "control client went away mid-stream; the work continues");
      }
    });
    const writeLine = (line: unknown): void => {
      if (!gone.signal.aborted && !res.destroyed && !res.writableEnded) res.write(`${JSON.stringify(line)}\n`);
    };
    let last: string;
    try {
      const result = await call(
        req,
        (event) => {
          try {
            writeLine({ event });
          } catch (err) {
            log.warn({ err, verb }, "could not send an event");
          }
        },
        gone.signal,
      );
      last = JSON.stringify({ result });
    } catch (err) {
      last = JSON.stringify(errorBody(wireErrorFrom(log, verb, err)));
    }
    if (!gone.signal.aborted && !res.destroyed && !res.writableEnded) res.end(`${last}\n`);
  };
}

/** AgentErrors go out as they are; anything else is logged with its stack and sent as INTERNAL without either. */
function wireErrorFrom(log: Logger, verb: Verb, err: unknown): AgentError {
  if (err instanceof AgentError) {
    log.info({ verb, code: err.code, msg: err.message }, "control verb failed");
    return err;
  }
  log.error({ err, verb }, "control verb failed unexpectedly");
  return internalError(verb);
}

/**
 * The wire form of a bug: a fixed message. The exception's own text can hold paths, fragments of
 * outside input or internals, so it goes to the journal only.
 */
function internalError(what: string): AgentError {
  return new AgentError("INTERNAL", `${what} failed inside deploy-agent (internal error)`, {
    hint: "this is a bug; journalctl -u deploy-agent has the details",
  });
}

function errorBody(err: AgentError): { error: WireError } {
  return { error: err.toJSON() };
}

function sendError(res: ServerResponse, err: AgentError, status: number = httpStatusFor(err.code)): void {
  sendJson(res, status, errorBody(err));
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) {
    if (!res.writableEnded) res.end();
    return;
  }
  let text: string;
  try {
    text = JSON.stringify(body);
  } catch {
    status = 500;
    text = JSON.stringify(errorBody(toAgentError(new Error("the daemon produced a result it cannot encode as JSON"))));
  }
  res.writeHead(status, { "Content-Type": JSON_CONTENT_TYPE, "Content-Length": Buffer.byteLength(text) });
  res.end(text);
}

type Body = { ok: true; value: unknown } | { ok: false; status: number; error: AgentError };

/** The parsed body (an empty body counts as `{}`), or what is wrong with it and the status that says so. */
function readJsonBody(req: IncomingMessage): Promise<Body> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    // Past the limit the rest is read and dropped rather than destroying the request, which would
    // take the socket and with it the 413 answer.
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_REQUEST_BYTES) chunks.push(chunk);
    });
    req.on("error", reject);
    req.on("end", () => {
      if (size > MAX_REQUEST_BYTES) {
        return resolve({ ok: false, status: 413, error: new AgentError("BAD_ARGUMENT", `request body is larger than ${MAX_REQUEST_BYTES} bytes`) });
      }
      const text = Buffer.concat(chunks).toString("utf8").trim();
      if (text === "") return resolve({ ok: true, value: {} });
      try {
        resolve({ ok: true, value: JSON.parse(text) as unknown });
      } catch {
        const error = new AgentError("BAD_ARGUMENT", 'request body is not valid JSON; send a JSON object such as {"app":"web"}');
        resolve({ ok: false, status: 400, error });
      }
    });
  });
}
