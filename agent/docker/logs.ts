// A container's output as `agentctl logs` shows it: read through the Engine's log API
// (https://docs.docker.com/reference/api/engine/version/v1.41/#tag/Container/operation/ContainerLogs),
// split into lines per stream, each cleaned of terminal controls and bounded, as `docker logs`
// would print them but safe for the person's terminal.
import { stripControls } from "../text.js";
import type { EngineClient } from "./client.js";

/** One line of a container's output; `time` is the Engine's RFC 3339 timestamp of it. */
export interface LogLine {
  stream: "stdout" | "stderr";
  time?: string;
  line: string;
}

export interface LogOptions {
  /** Keep reading as the container writes, until it stops or the reader closes. */
  follow: boolean;
  /** Only lines written at or after this time (seconds since the epoch). */
  since?: number;
  /** Only the last N lines (of those since `since`). */
  tail?: number;
}

/** A line longer than this is cut: a container writing one endless line must not hold the daemon's memory. */
export const LOG_LINE_MAX_BYTES = 16 * 1024;

/**
 * Streams container `id`'s output to `onLine` until it ends (the container stopped, or, without
 * `follow`, the end of what it wrote) or `signal` aborts. Throws ENGINE_UNAVAILABLE when the
 * Engine does not answer within its timeout, and the Engine's refusal (404 when the container is gone).
 */
export async function streamLogs(c: EngineClient, id: string, opts: LogOptions, onLine: (l: LogLine) => void, signal?: AbortSignal): Promise<void> {
  const query = { stdout: true, stderr: true, timestamps: true, ...(opts.since !== undefined ? { since: opts.since } : {}), ...(opts.tail !== undefined ? { tail: opts.tail } : {}) };
  const { stream, close } = await c.stream(
    `logs of container ${id}`,
    // Without follow the Engine answers with the whole body, which dockerode hands back as a Buffer.
    (abortSignal) => c.docker.getContainer(id).logs({ ...query, follow: opts.follow as true, abortSignal }) as unknown as Promise<NodeJS.ReadableStream | Buffer>,
    undefined,
    signal,
  );
  const split = new LogSplitter(onLine);
  try {
    if (Buffer.isBuffer(stream)) return split.end(stream);
    await new Promise<void>((resolve, reject) => {
      stream.on("data", (chunk: Buffer) => split.push(chunk));
      stream.on("end", resolve);
      stream.on("close", resolve);
      stream.on("error", (err: Error) => (signal?.aborted ? resolve() : reject(c.mapError(`logs of container ${id}`, err))));
      signal?.addEventListener("abort", () => resolve(), { once: true });
    });
    split.end();
  } finally {
    close();
  }
}

/**
 * Docker's framing of a container without a TTY (8-byte header: stream, 0, 0, 0, size as uint32
 * big-endian, then the payload), undone as bytes arrive, and the payloads cut into lines per stream.
 * The agent creates no container with a TTY, so every log it reads is framed.
 */
export class LogSplitter {
  #pending: Buffer = Buffer.alloc(0);
  readonly #partial = { stdout: "", stderr: "" };

  constructor(readonly onLine: (l: LogLine) => void) {}

  push(chunk: Buffer): void {
    this.#pending = this.#pending.length ? Buffer.concat([this.#pending, chunk]) : chunk;
    let off = 0;
    while (off + 8 <= this.#pending.length) {
      const size = this.#pending.readUInt32BE(off + 4);
      if (off + 8 + size > this.#pending.length) break;
      const stream = this.#pending[off] === 2 ? "stderr" : "stdout";
      this.#text(stream, this.#pending.subarray(off + 8, off + 8 + size).toString("utf8"));
      off += 8 + size;
    }
    this.#pending = this.#pending.subarray(off);
  }

  /** The rest: a last chunk, and lines the container left without a newline. */
  end(last?: Buffer): void {
    if (last) this.push(last);
    for (const stream of ["stdout", "stderr"] as const) {
      if (this.#partial[stream] !== "") this.#emit(stream, this.#partial[stream]);
      this.#partial[stream] = "";
    }
  }

  #text(stream: "stdout" | "stderr", text: string): void {
    const lines = (this.#partial[stream] + text).split("\n");
    this.#partial[stream] = lines.pop() ?? "";
    // A line that never ends is let out in pieces rather than held.
    if (Buffer.byteLength(this.#partial[stream]) > LOG_LINE_MAX_BYTES) {
      lines.push(this.#partial[stream]);
      this.#partial[stream] = "";
    }
    for (const l of lines) this.#emit(stream, l);
  }

  #emit(stream: "stdout" | "stderr", raw: string): void {
    // With timestamps each line starts with the Engine's RFC 3339 time and one space.
    const m = /^(\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-]\d\d:\d\d)) ?/.exec(raw);
    const text = stripControls(m ? raw.slice(m[0].length) : raw);
    const line = Buffer.byteLength(text) > LOG_LINE_MAX_BYTES ? `${Buffer.from(text).subarray(0, LOG_LINE_MAX_BYTES).toString("utf8")} [… cut]` : text;
    this.onLine({ stream, ...(m ? { time: m[1] } : {}), line });
  }
}
