// The Engine's events about this agent's own containers (their `die`, `start` and health changes),
// as one stream for the whole daemon: whoever watches the live releases reads them here.
import { AGENT_LABELS } from "../labels.js";
import { endOnce, type EngineClient } from "./client.js";
import type { Owner } from "./types.js";

export interface OwnContainerEvent {
  id: string;
  /** "die", "start", or "health_status: healthy" / "health_status: unhealthy" / "health_status: starting". */
  action: string;
  app: string;
  /** The container's name, without the leading "/". */
  name: string;
  deployId: string | undefined;
  /** The process's exit status, on `die`. */
  exitCode: number | undefined;
  /** When the Engine says it happened, in ms since the epoch. */
  at: number;
}

interface RawEvent {
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
  time?: number;
  timeNano?: number;
}

/** What the watches of containers follow: a container's life and its Docker health. */
export const CONTAINER_ACTIONS = ["die", "start", "health_status"] as const;

/**
 * Each health check Docker runs is an exec in the container, which ends with `exec_die` and its
 * exit code (https://docs.docker.com/reference/api/engine/version/v1.41/#tag/System/operation/SystemEvents):
 * a failed check seen at once, before Docker counts `Retries` of them and calls the container unhealthy.
 * One per container per health interval, so only a watch that needs it asks for it.
 */
export const HEALTH_CHECK_ACTIONS = [...CONTAINER_ACTIONS, "exec_die"] as const;

/**
 * Opens the stream and calls `onEvent` for each event; `onEnd` once when the stream ends or breaks
 * by itself (dockerd went away), never after `close()`. Throws ENGINE_UNAVAILABLE when it cannot be
 * opened. The caller must call `close()` in either case, which gives the stream back.
 */
export async function watchOwnContainers(
  c: EngineClient,
  owner: Owner,
  onEvent: (e: OwnContainerEvent) => void,
  onEnd: (why: string) => void,
  actions: readonly string[] = CONTAINER_ACTIONS,
): Promise<{ close(): void }> {
  const filters = {
    type: ["container" as const],
    event: [...actions],
    label: [`${AGENT_LABELS.managed}=true`, `${AGENT_LABELS.owner}=${owner.agentId}`],
  };
  const { stream, close } = await c.stream("GET /events (own containers)", (abortSignal) =>
    c.docker.getEvents({ filters, abortSignal }) as Promise<NodeJS.ReadableStream>,
  );
  const watch = endOnce(c, stream, close, onEnd);
  let buffered = "";
  stream.on("data", (chunk: Buffer | string) => {
    buffered += typeof chunk === "string" ? chunk : chunk.toString("utf8");
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) {
      const e = parseEvent(line);
      if (e && !watch.closed) onEvent(e);
    }
  });
  return { close: () => watch.close() };
}

/** One line of the stream, or undefined for one that is not an event of an app's container. */
export function parseEvent(line: string): OwnContainerEvent | undefined {
  if (line.trim() === "") return undefined;
  let raw: RawEvent;
  try {
    raw = JSON.parse(line) as RawEvent;
  } catch {
    return undefined;
  }
  const attrs = raw.Actor?.Attributes ?? {};
  const app = attrs[AGENT_LABELS.app];
  if (!raw.Action || !raw.Actor?.ID || !app) return undefined;
  const code = attrs.exitCode !== undefined ? Number(attrs.exitCode) : undefined;
  return {
    id: raw.Actor.ID,
    action: raw.Action,
    app,
    name: (attrs.name ?? "").replace(/^\//, ""),
    deployId: attrs[AGENT_LABELS.deployId],
    exitCode: Number.isInteger(code) ? code : undefined,
    at: raw.timeNano ? Math.floor(raw.timeNano / 1e6) : (raw.time ?? 0) * 1000,
  };
}
