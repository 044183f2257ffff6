// The one way docker/ talks to the Engine: every non-streaming call gets a deadline and every
// failure becomes an AgentError that names the Engine's socket and the call. Internal to docker/.
import type Docker from "dockerode";
import { AgentError } from "../errors.js";
import { cleanText } from "../text.js";

/** Bound on an Engine message quoted in an error: enough for the Engine's one-line reasons. */
const ENGINE_MESSAGE_MAX_BYTES = 1024;

/** Engine streams (pulls and event watches) opened and not yet closed, across every client: `status` reports it so a leak shows. */
let openStreams = 0;

/** How many Engine streams are open now (see `EngineClient.stream`). */
export function openEngineStreams(): number {
  return openStreams;
}

/** Errors of the socket itself rather than of the Engine's answer: the Engine is not reachable. */
const SOCKET_ERRORS = new Set(["ECONNREFUSED", "ENOENT", "EACCES", "ECONNRESET", "EPIPE", "ETIMEDOUT"]);

/**
 * Not docker-modem's `timeout` option: that is an idle timeout on the socket (req.setTimeout in
 * docker-modem lib/modem.js buildRequest), so it would also cut a pull that extracts a large layer
 * in silence and an events stream that waits for a health change. Each call here gets its own
 * deadline instead; streams get one for their first answer only and keep their own after that.
 */
export class EngineClient {
  /**
   * How many times an event stream of this client ended by itself or a call failed on the socket:
   * dockerd went away. Read by health.ts to tell a container stopped by dockerd stopping from one
   * that was stopped otherwise, even when dockerd is back before a ping of its own could see it gone.
   */
  #lost = 0;

  get lostCount(): number {
    return this.#lost;
  }

  noteLost(): void {
    this.#lost++;
  }

  constructor(
    readonly docker: Docker,
    readonly socketPath: string,
    readonly timeoutMs: number,
  ) {}

  /**
   * Runs one Engine call with a deadline (`timeoutMs` unless given). The signal is passed to
   * dockerode where it takes one (`abortSignal`); calls that ignore it are raced against the deadline.
   */
  async call<T>(what: string, fn: (signal: AbortSignal) => Promise<T>, timeoutMs = this.timeoutMs): Promise<T> {
    const ctl = new AbortController();
    try {
      return await this.#withDeadline(what, timeoutMs, ctl, fn(ctl.signal));
    } catch (err) {
      throw this.mapError(what, err);
    }
  }

  /**
   * Opens a streaming call: its first answer must come within `firstAnswerMs`; after that it runs
   * until `close()` (or the caller's own signal). Returns the stream and how to close it.
   */
  async stream<T>(what: string, fn: (signal: AbortSignal) => Promise<T>, firstAnswerMs = this.timeoutMs, signal?: AbortSignal): Promise<{ stream: T; close: () => void }> {
    const ctl = new AbortController();
    const onAbort = () => ctl.abort();
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) ctl.abort();
    try {
      const stream = await this.#withDeadline(what, firstAnswerMs, ctl, fn(ctl.signal));
      openStreams++;
      let closed = false;
      return {
        stream,
        close: () => {
          signal?.removeEventListener("abort", onAbort);
          ctl.abort();
          if (!closed) openStreams--;
          closed = true;
        },
      };
    } catch (err) {
      signal?.removeEventListener("abort", onAbort);
      throw this.mapError(what, err);
    }
  }

  /** `work`, or ENGINE_UNAVAILABLE after `ms` (aborting `ctl`, which ends the request where dockerode honours it). */
  #withDeadline<T>(what: string, ms: number, ctl: AbortController, work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(this.notAnswering(what, ms));
        ctl.abort();
      }, ms);
    });
    return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
  }

  notAnswering(what: string, ms: number): AgentError {
    return new AgentError("ENGINE_UNAVAILABLE", `Docker Engine at ${this.socketPath} did not answer ${what} within ${formatMs(ms)}`, {
      hint: "check `systemctl status docker` and `docker info`; the agent carries on by itself once the Engine answers (the limit is docker.timeout in agent.yaml)",
    });
  }

  /**
   * Socket failures become ENGINE_UNAVAILABLE. The Engine's own answers keep their HTTP status for
   * the caller to judge (404, 304, 409), with a message that names the call and quotes the Engine cleaned.
   */
  mapError(what: string, err: unknown): unknown {
    if (err instanceof AgentError) return err;
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if ((code && SOCKET_ERRORS.has(code)) || /socket hang up/.test(String((err as Error | undefined)?.message))) {
      this.noteLost();
      return engineUnavailable(this.socketPath, err, what);
    }
    const status = statusOf(err);
    if (status !== undefined && err instanceof Error) err.message = `Docker Engine refused ${what} (HTTP ${status}): ${engineMessage(err)}`;
    return err;
  }
}

/**
 * Calls `onEnd` once when an open Engine stream ends or breaks by itself (dockerd went away), never
 * after the returned `close()`, which gives the stream back (`close` from `EngineClient.stream`).
 */
export function endOnce(c: EngineClient, stream: NodeJS.ReadableStream, close: () => void, onEnd: (why: string) => void): { close(): void; readonly closed: boolean } {
  let closed = false;
  let ended = false;
  const end = (why: string) => {
    if (closed || ended) return;
    ended = true;
    c.noteLost();
    onEnd(why);
  };
  stream.on("end", () => end("the Engine closed its event stream"));
  stream.on("close", () => end("the Engine's event stream closed"));
  stream.on("error", (err: Error) => end(`the Engine's event stream broke: ${err.message}`));
  return {
    close() {
      closed = true;
      close();
    },
    get closed() {
      return closed;
    },
  };
}

export function engineUnavailable(socketPath: string, err: unknown, what?: string): AgentError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === "EACCES" ? "permission denied" : code === "ENOENT" ? "no such socket" : engineMessage(err);
  return new AgentError("ENGINE_UNAVAILABLE", `Docker Engine at ${socketPath} is not answering${what ? ` ${what}` : ""}: ${why}`, {
    hint:
      code === "EACCES"
        ? "the agent's user must be in the docker group (install.sh adds it)"
        : "check `systemctl status docker`, or set docker.socket in agent.yaml",
    cause: err,
  });
}

/** dockerode errors carry the HTTP status of the Engine's answer. */
export function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown } | undefined)?.statusCode;
  return typeof s === "number" ? s : undefined;
}

/** The Engine's own message, without dockerode's "(HTTP code 404) no such container -" prefix; cleaned and bounded. */
export function engineMessage(err: unknown): string {
  const json = (err as { json?: { message?: unknown } } | undefined)?.json;
  const raw = json && typeof json.message === "string" ? json.message : err instanceof Error ? err.message : String(err);
  return cleanText(raw, ENGINE_MESSAGE_MAX_BYTES);
}

function formatMs(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}
