// Bounds on what a client of the control socket can hold: how many connections at once, and how
// long a request may take to arrive. Anyone in the socket's group can connect; a stuck or hostile
// client must not be able to starve agentctl or keep the daemon's memory growing.
import type { Server, ServerOptions } from "node:http";
import type { Socket } from "node:net";
import { AgentError } from "../errors.js";
import type { Logger } from "../log.js";
import { httpStatusFor } from "./protocol.js";

/** Open connections served at once; agentctl opens one per command, a deploy's stream holds one. */
export const DEFAULT_MAX_CONNECTIONS = 32;

/** A client gets this long to send its (tiny) request; the answer may stream for as long as a deploy runs. */
export const REQUEST_TIMEOUT_MS = 10_000;

/**
 * Node enforces requestTimeout and headersTimeout only when it sweeps its connections, every
 * connectionsCheckingInterval (30 s by default), so a half-sent request would live up to 40 s;
 * sweeping every second keeps the bound near 10 s.
 * https://nodejs.org/api/http.html#httpcreateserveroptions-requestlistener
 */
const TIMEOUT_SWEEP_MS = 1_000;

/** Options for http.createServer that bound how long a request may take to arrive. */
export function requestTimeouts(): ServerOptions {
  return { requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS, connectionsCheckingInterval: TIMEOUT_SWEEP_MS };
}

/** Tells whether a connection was over the limit when it was accepted, and so gets only a refusal. */
export type RefusedCheck = (socket: Socket) => boolean;

/**
 * Counts open connections; each one accepted beyond `max` is answered 503 with a clear error and
 * closed, without its request reaching a verb. Past twice `max`, Node drops connections at accept
 * (server.maxConnections) so even a flood of refusals stays bounded.
 */
export function limitConnections(server: Server, max: number, log: Logger, what = "control socket"): RefusedCheck {
  const refused = new WeakSet<Socket>();
  let open = 0;
  server.maxConnections = 2 * max;
  server.on("drop", () => log.warn({ max: 2 * max }, `${what} flooded; dropping connections at accept`));
  server.on("connection", (socket: Socket) => {
    open++;
    socket.once("close", () => open--);
    if (open <= max) return;
    refused.add(socket);
    log.warn({ open, max }, `${what} at its connection limit; refusing a connection`);
  });
  return (socket) => refused.has(socket);
}

export function busyError(max: number): AgentError {
  return new AgentError("DAEMON_UNAVAILABLE", `deploy-agent already serves ${max} control connections, its limit; this request was not run`, {
    hint: "try again in a moment; if it persists, a client is holding connections open (ss -xp shows who is connected to the socket)",
  });
}

/**
 * The answer to a request the HTTP parser gave up on: 408 when it did not arrive within
 * REQUEST_TIMEOUT_MS, 400 when it is not HTTP. The connection is closed after it.
 */
export function clientErrorAnswer(err: NodeJS.ErrnoException): string {
  const timedOut = err.code === "ERR_HTTP_REQUEST_TIMEOUT";
  const error = timedOut
    ? new AgentError("BAD_ARGUMENT", `the request did not arrive in full within ${REQUEST_TIMEOUT_MS / 1000}s; connection closed`)
    : new AgentError("BAD_ARGUMENT", "the request is not valid HTTP/1.1; connection closed");
  const body = JSON.stringify({ error: error.toJSON() });
  const status = timedOut ? "408 Request Timeout" : `${httpStatusFor(error.code)} Bad Request`;
  return `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}
