// The rules of the watch after a switch (config `watch`, docs/design.md#the-watch-after-the-switch). Pure:
// what the record step writes, when green counts as failed, and what a starting agent does with a
// watch it finds in the state file.
import { AGENT_LABELS } from "../labels.js";
import type { Slot, Watch } from "../state/schema.js";

/** The part of a container's inspect the rules read. */
export interface WatchedContainer {
  id: string;
  name: string;
  image: string;
  labels: Record<string, string>;
  running: boolean;
  restarting: boolean;
  restartCount: number;
  exitCode: number;
  health: string;
  failingStreak?: number;
}

/** What the record step writes with `live`: green's id, and blue as its labels name it (what it really runs). */
export function watchRecord(blue: Pick<WatchedContainer, "id" | "name" | "image" | "labels">, greenId: string, deployId: string, until: string): Watch {
  const l = blue.labels;
  const generation = Number(l[AGENT_LABELS.generation]);
  return {
    deployId,
    until,
    greenId,
    blue: {
      id: blue.id,
      name: blue.name,
      slot: (l[AGENT_LABELS.slot] === "green" ? "green" : "blue") satisfies Slot,
      generation: Number.isInteger(generation) && generation >= 0 ? generation : 0,
      deployId: l[AGENT_LABELS.deployId] ?? "adopted",
      version: l[AGENT_LABELS.version] ?? "unknown",
      digest: l[AGENT_LABELS.digest] ?? "",
      imageId: blue.image,
    },
  };
}

/**
 * Why green counts as failed, in words, or undefined while it serves. Gone, not running,
 * restarting or restarted once (its restart policy brought it back: it exited), or unhealthy in
 * Docker. `starting` is not a failure by itself: a restarted container shows restartCount > 0.
 */
export function greenFailure(c: Pick<WatchedContainer, "name" | "running" | "restarting" | "restartCount" | "exitCode" | "health"> | undefined): string | undefined {
  if (!c) return "the new release's container is gone from the Engine";
  if (!c.running) return `the new release ${c.name} exited (exit code ${c.exitCode})`;
  if (c.restarting || c.restartCount > 0) return `the new release ${c.name} exited and was restarted (${c.restartCount} restart(s))`;
  if (c.health === "unhealthy") return `the new release ${c.name} turned unhealthy in Docker`;
  return undefined;
}

export type WatchDecision =
  | { action: "resume"; remainingMs: number }
  | { action: "end" }
  | { action: "rollback"; reason: string }
  /** Blue is gone: there is nothing to go back to, and the watch is dropped. */
  | { action: "drop" };

/**
 * What a starting agent (or one whose Engine came back) does with a watch in the state file. A
 * rollback found begun is finished; a green that failed while the agent was away is rolled back;
 * a watch whose time passed ends; otherwise it resumes for the time left.
 */
export function watchOnStart(w: Pick<Watch, "until" | "rollingBack">, nowMs: number, blueExists: boolean, greenFailed: string | undefined): WatchDecision {
  if (!blueExists) return { action: "drop" };
  if (w.rollingBack !== undefined) return { action: "rollback", reason: w.rollingBack };
  if (greenFailed !== undefined) return { action: "rollback", reason: greenFailed };
  const remainingMs = Date.parse(w.until) - nowMs;
  if (!(remainingMs > 0)) return { action: "end" };
  return { action: "resume", remainingMs };
}

/**
 * A reserve started when one of green's health checks failed (reserve.ts) may be stopped again
 * once green passes again: healthy in Docker with no failed check since the last that passed.
 */
export function greenPassesAgain(c: Pick<WatchedContainer, "running" | "health" | "failingStreak"> | undefined): boolean {
  return c !== undefined && c.running && c.health === "healthy" && (c.failingStreak ?? 0) === 0;
}

/** A health check of green that failed: Docker's `exec_die` with a non-zero exit code. */
export function isFailedCheck(e: { action: string; exitCode?: number | undefined }): boolean {
  return e.action === "exec_die" && e.exitCode !== undefined && e.exitCode !== 0;
}
