// What one poll of one app does, as a pure function of what is known: the app's state, the
// deploy running now, the app's run of failures, the registry's answer, and the time. polling.ts
// gathers these, asks, and does what the answer says; this file holds every rule.
import type { AppState, ErrorRecord } from "../state/schema.js";
import { isSkipped } from "../state/transitions.js";
import { failureDelayMs, type FailureBackoffPolicy } from "../registry/retry.js";
import { isOpen, nextOpening, type DeployWindow } from "../config/window.js";

/**
 * What holds a found digest back from a poll's deploy (apps.<name>.mode, window, minAge). Wall time,
 * not monotonic: windows are hours of the host's local clock, and minAge counts from a first sight
 * kept in the state file across restarts, which no monotonic clock survives.
 */
export interface GateInput {
  mode: "auto" | "notify";
  windows?: readonly DeployWindow[] | undefined;
  minAgeMs: number;
  /** Wall-clock milliseconds (Date.now()). */
  nowWallMs: number;
}

/**
 * An app's run of failed polls and deploys that were nobody's fault but the moment's (registry,
 * network, Engine, disk): counted until a poll gets through to unchanged or a deploy succeeds.
 */
export interface RetryState {
  /** Failures in a row: polls the registry failed, and deploys that failed without skipping. */
  failures: number;
  lastError: ErrorRecord;
  /** Wall-clock time of the last failure, for people. */
  lastAt: string;
  /** The digest whose deploy failed last; backoff holds only while the tag still names it. */
  digest?: string;
  /** Monotonic time (ms, performance.now()) before which polling does not deploy `digest` again. */
  notBeforeMs?: number;
}

/** The registry's answer to the poll: the digest the tracked tag names, or why there is none. */
export type RegistryAnswer = { ok: true; tag: string; digest: string; indexDigest?: string } | { ok: false; error: ErrorRecord };

export interface PollInput {
  app: Readonly<AppState>;
  /** The deploy holding the app's lock, if any. */
  running?: { deployId: string; step: string } | undefined;
  retry?: RetryState | undefined;
  /** Undefined before the registry was asked: the decision is then only whether to ask. */
  answer?: RegistryAnswer | undefined;
  /** Monotonic milliseconds (performance.now()), so a wall clock that jumps moves no backoff. */
  nowMs: number;
  /** `agentctl check`: a person asked, so no backoff holds it back (the gates still do). */
  manual: boolean;
  /** Absent: polling deploys what it finds, as an app with no mode, window or minAge. */
  gate?: GateInput | undefined;
}

export type PollDecision =
  | { kind: "paused" }
  | { kind: "busy"; deployId: string; step: string }
  | { kind: "resolve" }
  | { kind: "failed"; error: ErrorRecord }
  | { kind: "unchanged"; tag: string; digest: string }
  | { kind: "skipped"; tag: string; digest: string }
  | { kind: "backing-off"; tag: string; digest: string; waitMs: number }
  /** Notify mode: recorded as available, not deployed; `fresh` when not recorded yet. */
  | { kind: "available"; tag: string; digest: string; fresh: boolean }
  /** minAge: deployable by polling from `eligibleAtMs` (wall). */
  | { kind: "too-young"; tag: string; digest: string; eligibleAtMs: number }
  | { kind: "waiting-window"; tag: string; digest: string; opensAtMs: number }
  | { kind: "deploy"; tag: string; digest: string };

/** The rules, in the order they apply. */
export function decidePoll(input: PollInput): PollDecision {
  const { app, running, retry, answer, nowMs, manual } = input;
  if (app.pin) return { kind: "paused" };
  if (running) return { kind: "busy", deployId: running.deployId, step: running.step };
  if (answer === undefined) return { kind: "resolve" };
  if (!answer.ok) return { kind: "failed", error: answer.error };
  const { tag, digest } = answer;
  if (app.live?.digest === digest) return { kind: "unchanged", tag, digest };
  if (isSkipped(app, digest)) return { kind: "skipped", tag, digest };
  const waitMs = !manual && retry?.digest === digest && retry.notBeforeMs !== undefined ? retry.notBeforeMs - nowMs : 0;
  if (waitMs > 0) return { kind: "backing-off", tag, digest, waitMs };
  return gateDecision(app, input.gate, tag, digest);
}

/** The gates, once the digest is one polling would deploy: notify mode, then minAge, then the window. */
function gateDecision(app: Readonly<AppState>, gate: GateInput | undefined, tag: string, digest: string): PollDecision {
  if (!gate) return { kind: "deploy", tag, digest };
  if (gate.mode === "notify") return { kind: "available", tag, digest, fresh: app.available?.digest !== digest };
  if (gate.minAgeMs > 0) {
    // Not seen before (the caller records the sighting after asking): it was first seen now.
    const seenAtMs = app.seen?.digest === digest ? Date.parse(app.seen.since) : gate.nowWallMs;
    const eligibleAtMs = seenAtMs + gate.minAgeMs;
    if (gate.nowWallMs < eligibleAtMs) return { kind: "too-young", tag, digest, eligibleAtMs };
  }
  if (gate.windows && gate.windows.length > 0) {
    const now = new Date(gate.nowWallMs);
    if (!isOpen(gate.windows, now)) {
      const opens = nextOpening(gate.windows, now);
      if (opens) return { kind: "waiting-window", tag, digest, opensAtMs: opens.getTime() };
    }
  }
  return { kind: "deploy", tag, digest };
}

/**
 * The app's run of failures after one more: a failed poll (no digest) leaves the registry's own
 * host backoff in charge; a failed deploy of `digest` holds that digest off for a jittered,
 * doubling, capped while.
 */
export function retryAfterFailure(
  prev: RetryState | undefined,
  failure: { error: ErrorRecord; at: string; nowMs: number; digest?: string },
  policy: FailureBackoffPolicy,
  random: () => number = Math.random,
): RetryState {
  const failures = (prev?.failures ?? 0) + 1;
  const next: RetryState = { failures, lastError: failure.error, lastAt: failure.at };
  if (failure.digest !== undefined) {
    next.digest = failure.digest;
    next.notBeforeMs = failure.nowMs + failureDelayMs(failures, policy, random);
  } else if (prev?.digest !== undefined) {
    // A failed poll does not lift the hold on a digest whose deploy failed.
    next.digest = prev.digest;
    if (prev.notBeforeMs !== undefined) next.notBeforeMs = prev.notBeforeMs;
  }
  return next;
}
