// The daemon's own resources for `status` (control/api.ts DaemonStats): memory, descriptors, timers
// and open Engine streams, read when asked and never kept, so a leak can be seen from outside.
import { readFileSync, readdirSync } from "node:fs";
import type { DaemonStats } from "../control/api.js";
import { openEngineStreams } from "../docker/engine.js";

/** A `/proc/self/status` field in kB, as bytes; undefined where there is no /proc (not Linux). */
function procStatusBytes(text: string | undefined, key: string): number | undefined {
  const kb = text === undefined ? undefined : new RegExp(`^${key}:\\s+(\\d+) kB$`, "m").exec(text)?.[1];
  return kb === undefined ? undefined : Number(kb) * 1024;
}

function readOrUndefined<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

export function daemonStats(): DaemonStats {
  const status = readOrUndefined(() => readFileSync("/proc/self/status", "utf8"));
  const rssAnonBytes = procStatusBytes(status, "RssAnon");
  // The listing itself holds one descriptor while it runs: not counted.
  const fds = readOrUndefined(() => readdirSync("/proc/self/fd").length - 1);
  const memory = process.memoryUsage();
  return {
    rssBytes: memory.rss,
    ...(rssAnonBytes !== undefined ? { rssAnonBytes } : {}),
    heapUsedBytes: memory.heapUsed,
    heapTotalBytes: memory.heapTotal,
    externalBytes: memory.external,
    arrayBuffersBytes: memory.arrayBuffers,
    ...(fds !== undefined ? { fds } : {}),
    timers: process.getActiveResourcesInfo().filter((r) => r === "Timeout").length,
    engineStreams: openEngineStreams(),
  };
}
