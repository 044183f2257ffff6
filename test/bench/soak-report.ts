// The soak's table and verdict (test/bench/soak.ts): one row per minute, and whether the targets
// are met. Targets: RssAnon after collection grows by at most 5 MB from minute 2 to the end;
// descriptors and Engine streams stay flat.
import type { MemoryMaps } from "../support/memory-maps.js";

const MEMORY_GROWTH_MAX_MB = 5;
/** Open descriptors may differ by this much between quiet samples: the registry client's keep-alive pool (one per poll slot). */
const FD_SLACK = 4;

export interface Sample {
  minute: number;
  anonMb: number;
  anonGcMb: number;
  /** Where anonGcMb lives: malloc's arenas or elsewhere (V8's pages, mmap'd buffers). */
  maps: MemoryMaps;
  rssMb: number;
  heapMb: number;
  heapTotalMb: number;
  externalMb: number;
  arrayBuffersMb: number;
  fds: number;
  engineStreams: number;
  timers: number;
  deploys: number;
  deploysFailed: number;
  busy: number;
  actionsFailed: number;
  failedRequests: number;
  load: string;
}

export function print(s: Sample, header: boolean): void {
  const mb = (x: number) => `${x.toFixed(1)} MB`;
  const cols: [string, string][] = [
    ["minute", String(s.minute)],
    ["RssAnon", mb(s.anonMb)],
    ["after-gc", mb(s.anonGcMb)],
    ["malloc-main", mb(s.maps.mainArenaMb)],
    ["malloc-arenas", mb(s.maps.threadArenasMb)],
    ["other-anon", mb(s.maps.otherMb)],
    ["RSS", mb(s.rssMb)],
    ["heap", mb(s.heapMb)],
    ["heap-total", mb(s.heapTotalMb)],
    ["external", mb(s.externalMb)],
    ["arraybuffers", mb(s.arrayBuffersMb)],
    ["fds", String(s.fds)],
    ["engine-streams", String(s.engineStreams)],
    ["timers", String(s.timers)],
    ["deploys", String(s.deploys)],
    ["failed-deploys", String(s.deploysFailed)],
    ["busy", String(s.busy)],
    ["failed-actions", String(s.actionsFailed)],
    ["failed-requests", String(s.failedRequests)],
    ["load", s.load],
  ];
  const width = (c: [string, string]) => Math.max(c[0].length, 8) + 2;
  if (header) console.log(cols.map((c) => c[0].padEnd(width(c))).join("").trimEnd());
  console.log(cols.map((c) => c[1].padEnd(width(c))).join("").trimEnd());
}

/** Prints the verdict line; true when every target is met. */
export function verdict(samples: Sample[], snapshots: boolean): boolean {
  const base = samples[Math.min(2, samples.length - 2)] ?? samples[0]!;
  const last = samples.at(-1)!;
  const growth = snapshots ? last.heapMb - base.heapMb : last.anonGcMb - base.anonGcMb;
  const what = snapshots ? "the V8 heap after collection (heap snapshots were taken)" : "RssAnon after collection";
  const fdRise = Math.max(...samples.filter((s) => s.minute >= base.minute).map((s) => s.fds)) - base.fds;
  const streams = Math.max(...samples.map((s) => s.engineStreams));
  const misses = [
    ...(growth > MEMORY_GROWTH_MAX_MB ? [`${what} grew ${growth.toFixed(1)} MB`] : []),
    ...(fdRise > FD_SLACK ? [`open descriptors rose by ${fdRise}`] : []),
    ...(streams > samples[0]!.engineStreams ? [`Engine streams open with no deploy running`] : []),
    ...(last.deploys === 0 ? ["no deploy happened"] : []),
  ];
  const sign = (x: number) => `${x >= 0 ? "+" : ""}${x.toFixed(1)}`;
  console.log(
    `verdict: ${misses.length === 0 ? "PASS" : `FAIL (${misses.join("; ")})`}: ${what} ${sign(growth)} MB from minute ${base.minute} to ${last.minute} (target ≤ ${MEMORY_GROWTH_MAX_MB} MB), ` +
      `fds ${base.fds} → ${last.fds} (highest +${fdRise}, target ≤ ${FD_SLACK}), Engine streams at rest ≤ ${streams} (target ${samples[0]!.engineStreams}); ` +
      `${last.deploys} deploys (${last.deploysFailed} failed), ${last.failedRequests} failed requests`,
  );
  return misses.length === 0;
}
