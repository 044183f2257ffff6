// What one poll of one app does, as a pure function of what is known: the app's state, the
// deploy running now, the app's run of failures, the registry's answer, and the time. service.ts
// gathers these, asks, and does what the answer says; this file holds every rule.
import type { AppState, ErrorRecord } from "../state/schema.js";
import { isSkipped } from "../state/transitions.js";
import { failureDelayMs, type FailureBackoffPolicy } from "../registry/retry.js";

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
  /** `agentctl check`: a person asked, so no backoff holds it back. */
  manual: boolean;
}

export type PollDecision =
  | { kind: "paused" }
  | { kind: "busy"; deployId: string; step: string }
  | { kind: "resolve" }
  | { kind: "failed"; error: ErrorRecord }
  | { kind: "unchanged"; tag: string; digest: string }
  | { kind: "skipped"; tag: string; digest: string }
  | { kind: "backing-off"; tag: string; digest: string; waitMs: number }
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
