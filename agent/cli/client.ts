// agentctl's side of the control socket: finds the socket, sends one request with node:http, reads
// the answer as control/protocol.ts defines it, and turns transport failures into DAEMON_UNAVAILABLE.
import { readFileSync } from "node:fs";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { parseDocument } from "yaml";
import type { z } from "zod";
import { AgentError } from "../errors.js";
import { Config } from "../config/schema.js";
import {
  EVENT_SCHEMAS,
  NDJSON_CONTENT_TYPE,
  PlainBody,
  StreamLine,
  isStreamingVerb,
  knownCode,
  verbPath,
  type Verb,
  type WireError,
} from "../control/protocol.js";

/** A plain verb's whole exchange must finish within this. */
export const PLAIN_TIMEOUT_MS = 30_000;
/**
 * A streaming verb must get its response headers within this; the stream itself has no client-side
 * deadline because every step of a deploy has its own deadline in the daemon, which ends the stream.
 */
export const STREAM_ACCEPT_TIMEOUT_MS = 10_000;

/** The daemon's default socket path, read from the config schema so the two cannot drift apart. */
export function defaultSocketPath(): string {
  return Config.shape.socket.parse(undefined);
}

/**
 * `--socket`, else the `socket` key of the `--config` file, else the default. Only that key is read:
 * a config the daemon would reject for other reasons still tells us where its socket is.
 */
export function resolveSocketPath(flags: { socket?: string; config?: string }, readFile: (path: string) => string = (p) => readFileSync(p, "utf8")): string {
  if (flags.socket !== undefined) return flags.socket;
  if (flags.config === undefined) return defaultSocketPath();
  let text: string;
  try {
    text = readFile(flags.config);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new AgentError("BAD_ARGUMENT", `--config ${flags.config}: cannot read it (${code})`, {
      hint: "pass the path of agent.yaml, or give the socket directly with --socket PATH",
      cause: err,
    });
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    const line = first?.linePos?.[0]?.line;
    throw new AgentError("BAD_ARGUMENT", `--config ${flags.config}: not valid YAML${line ? ` (line ${line})` : ""}, so its socket key cannot be read`, {
      hint: "fix the file, or give the socket directly with --socket PATH",
    });
  }
  const raw: unknown = doc.toJS();
  const socket = raw !== null && typeof raw === "object" ? (raw as Record<string, unknown>).socket : undefined;
  if (socket === undefined || socket === null) return defaultSocketPath();
  if (typeof socket !== "string" || socket === "") {
    throw new AgentError("BAD_ARGUMENT", `--config ${flags.config}: socket: expected a path, got ${JSON.stringify(socket)}`, {
      hint: "give the socket directly with --socket PATH",
    });
  }
  return socket;
}

export interface CallOptions<T> {
  socketPath: string;
  verb: Verb;
  body: object;
  result: z.ZodType<T>;
  /** The events of a streaming verb, as its schema in EVENT_SCHEMAS reads them (a deploy's progress, a log's lines). */
  onEvent?: (e: never) => void;
  /** Replaces the deadline above: completion asks with a short one so a hung daemon never hangs a Tab. */
  timeoutMs?: number;
}

/** Sends one request and returns its validated result; an `{"error":…}` answer is thrown as an AgentError. */
export function call<T>(opts: CallOptions<T>): Promise<T> {
  const { socketPath, verb } = opts;
  const streaming = isStreamingVerb(verb);
  const deadlineMs = opts.timeoutMs ?? (streaming ? STREAM_ACCEPT_TIMEOUT_MS : PLAIN_TIMEOUT_MS);
  const payload = JSON.stringify(opts.body);

  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = (err: AgentError | undefined, value?: T): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(value as T);
    };
    const req = httpRequest({
      socketPath,
      path: verbPath(verb),
      method: "POST",
      // One request per run: a pooled keep-alive socket would only hold the process open.
      agent: false,
      headers: { "Content-Type": "application/json", "Content-Length": Buffer.byteLength(payload), Connection: "close" },
    });
    const timer = setTimeout(() => {
      settle(
        new AgentError("DAEMON_UNAVAILABLE", `deploy-agent did not answer on ${socketPath} within ${deadlineMs / 1000}s`, {
          hint: "systemctl status deploy-agent; journalctl -u deploy-agent",
        }),
      );
      req.destroy();
    }, deadlineMs);

    req.on("error", (err: NodeJS.ErrnoException) => settle(connectError(socketPath, err)));
    req.on("response", (res) => {
      const type = res.headers["content-type"] ?? "";
      if (res.statusCode === 200 && type.startsWith(NDJSON_CONTENT_TYPE)) {
        clearTimeout(timer);
        readStream(res, opts, settle);
      } else {
        readPlain(res, opts, settle);
      }
    });
    req.end(payload);
  });
}

type Settle<T> = (err: AgentError | undefined, value?: T) => void;

function readStream<T>(res: IncomingMessage, opts: CallOptions<T>, settle: Settle<T>): void {
  let buffered = "";
  let finished = false;
  const onLine = (line: string): void => {
    if (line.trim() === "" || finished) return;
    const parsed = StreamLine.safeParse(parseJson(line));
    if (!parsed.success) {
      finished = true;
      return settle(unexpected(opts, `a line that is not part of the protocol: ${line.slice(0, 200)}`));
    }
    const msg = parsed.data;
    if ("event" in msg) {
      // An event this agentctl does not know (a newer daemon) is skipped: progress is only shown, never acted on.
      const event = isStreamingVerb(opts.verb) ? EVENT_SCHEMAS[opts.verb].safeParse(msg.event) : undefined;
      if (event?.success) (opts.onEvent as ((e: unknown) => void) | undefined)?.(event.data);
      return;
    }
    finished = true;
    if ("error" in msg) return settle(fromWire(msg.error));
    const result = opts.result.safeParse(msg.result);
    settle(result.success ? undefined : unexpected(opts, "a result that does not match this agentctl's protocol"), result.success ? result.data : undefined);
  };
  res.setEncoding("utf8");
  res.on("data", (chunk: string) => {
    buffered += chunk;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) !== -1) {
      onLine(buffered.slice(0, nl));
      buffered = buffered.slice(nl + 1);
    }
  });
  const lost = (): void => {
    if (buffered.trim() !== "") onLine(buffered);
    buffered = "";
    if (finished) return;
    finished = true;
    settle(
      new AgentError("DAEMON_UNAVAILABLE", `the connection to deploy-agent closed before ${opts.verb} finished; the work may still be running in the daemon`, {
        hint: "agentctl status shows the running deploy; journalctl -u deploy-agent shows why the daemon went away",
      }),
    );
  };
  res.on("end", lost);
  res.on("error", lost);
  res.on("close", lost);
}

function readPlain<T>(res: IncomingMessage, opts: CallOptions<T>, settle: Settle<T>): void {
  const chunks: Buffer[] = [];
  res.on("data", (c: Buffer) => chunks.push(c));
  res.on("error", (err: NodeJS.ErrnoException) => settle(connectError(opts.socketPath, err)));
  res.on("end", () => {
    const text = Buffer.concat(chunks).toString("utf8");
    const parsed = PlainBody.safeParse(parseJson(text));
    if (!parsed.success) {
      return settle(unexpected(opts, `HTTP ${res.statusCode ?? "?"} with a body that is not part of the protocol: ${text.slice(0, 200)}`));
    }
    if ("error" in parsed.data) return settle(fromWire(parsed.data.error));
    const result = opts.result.safeParse(parsed.data.result);
    if (!result.success) return settle(unexpected(opts, "a result that does not match this agentctl's protocol"));
    settle(undefined, result.data);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function fromWire(e: WireError): AgentError {
  return new AgentError(knownCode(e.code), e.message, e.hint === undefined ? {} : { hint: e.hint });
}

function unexpected(opts: CallOptions<unknown>, what: string): AgentError {
  return new AgentError("INTERNAL", `${opts.socketPath} answered ${opts.verb} with ${what}`, {
    hint: "is this deploy-agent's socket, and are agentctl and deploy-agent the same version?",
  });
}

/** What a failed connect means to the person at the terminal. */
export function connectError(socketPath: string, err: NodeJS.ErrnoException): AgentError {
  const base = { cause: err };
  switch (err.code) {
    case "ENOENT":
    case "ENOTDIR":
      return new AgentError("DAEMON_UNAVAILABLE", `no control socket at ${socketPath} (${err.code}); deploy-agent is not running or uses another socket`, {
        ...base,
        hint: "systemctl status deploy-agent; or point agentctl at the socket with --socket PATH or --config agent.yaml",
      });
    case "ECONNREFUSED":
      return new AgentError("DAEMON_UNAVAILABLE", `nothing is listening on ${socketPath} (ECONNREFUSED); deploy-agent is not running`, {
        ...base,
        hint: "systemctl status deploy-agent; journalctl -u deploy-agent shows why it stopped",
      });
    case "EACCES":
    case "EPERM":
      return new AgentError("DAEMON_UNAVAILABLE", `permission denied connecting to ${socketPath} (${err.code})`, {
        ...base,
        hint: `the socket is mode 0660: run agentctl as root or as a member of the deploy-agent group (sudo usermod -aG deploy-agent $USER, then log in again; ls -l ${socketPath} shows the socket's group if it is another)`,
      });
    default:
      return new AgentError("DAEMON_UNAVAILABLE", `cannot talk to deploy-agent on ${socketPath}: ${err.code ?? err.message}`, {
        ...base,
        hint: "systemctl status deploy-agent",
      });
  }
}
