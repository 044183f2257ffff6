// Whether the Engine is there: a ping with the client's deadline, and a quiet event stream whose
// end says at once that dockerd went away (it closes its API before it stops its containers).
import { endOnce, type EngineClient } from "./client.js";

/** Resolves when the Engine answers GET /_ping within the deadline; ENGINE_UNAVAILABLE otherwise. */
export async function ping(c: EngineClient, timeoutMs?: number): Promise<void> {
  // dockerode's typings of ping() take no options, but it passes abortSignal on (lib/docker.js
  // Docker.prototype.ping), so a hung Engine does not keep one socket per try open.
  const pingWith = c.docker.ping as unknown as (this: typeof c.docker, opts: { abortSignal: AbortSignal }) => Promise<unknown>;
  await c.call("GET /_ping", (abortSignal) => pingWith.call(c.docker, { abortSignal }), timeoutMs);
}

/**
 * Opens an event stream filtered to daemon events (a reload, rare), so it stays silent while the
 * Engine lives, and calls `onEnd` once when it ends or breaks. Throws ENGINE_UNAVAILABLE when it
 * cannot be opened. `close()` ends it without calling `onEnd`.
 */
export async function watchEngine(c: EngineClient, onEnd: (why: string) => void): Promise<{ close(): void }> {
  const { stream, close } = await c.stream("GET /events", (abortSignal) =>
    c.docker.getEvents({ filters: { type: ["daemon"] }, abortSignal }) as Promise<NodeJS.ReadableStream>,
  );
  stream.on("data", () => {});
  const watch = endOnce(c, stream, close, onEnd);
  return { close: () => watch.close() };
}
