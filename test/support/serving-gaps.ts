// Why requests failed, for long benches: failed requests grouped into bursts, and what the
// Traefik model left out of its routing table (and why) around each burst.
import type { TraefikModel } from "./traefik-model.js";

export interface Failure {
  at: number;
  what: string;
}

export interface Burst {
  from: number;
  to: number;
  count: number;
  /** Distinct failure texts, with how many times each. */
  kinds: Map<string, number>;
}

/** Failures in time order, split wherever more than `gapMs` passes between two. */
export function bursts(failures: readonly Failure[], gapMs = 2000): Burst[] {
  const out: Burst[] = [];
  for (const f of [...failures].sort((a, b) => a.at - b.at)) {
    let b = out.at(-1);
    if (!b || f.at - b.to > gapMs) out.push((b = { from: f.at, to: f.at, count: 0, kinds: new Map() }));
    b.to = f.at;
    b.count++;
    b.kinds.set(f.what, (b.kinds.get(f.what) ?? 0) + 1);
  }
  return out;
}

export interface DropWatch {
  /** What the model dropped (`name: reason`) and when it first did, between `from` and `to`. */
  between(from: number, to: number): string[];
  stop(): void;
}

/** Reads the model's dropped containers every `everyMs`, keeping those whose name contains `match`. */
export function watchDropped(traefik: TraefikModel, match: string, everyMs = 200): DropWatch {
  const seen: { at: number; text: string }[] = [];
  let before = new Set<string>();
  const timer = setInterval(() => {
    const now = new Set(traefik.table().dropped.filter((d) => d.name.includes(match)).map((d) => `${d.name}: ${d.reason}`));
    for (const text of now) if (!before.has(text)) seen.push({ at: Date.now(), text });
    before = now;
  }, everyMs);
  return {
    between: (from, to) => seen.filter((s) => s.at >= from && s.at <= to).map((s) => `${new Date(s.at).toISOString()} ${s.text}`),
    stop: () => clearInterval(timer),
  };
}
