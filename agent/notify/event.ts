// What the agent tells the outside world: one event per thing that happened, sent to every
// `notify` target (notify/ delivers them; deploy/ and the daemon only hand events over). The names
// are the interface users filter on (`notify[].events`) and must not change.
import type { ErrorRecord, Trigger } from "../state/schema.js";

export const NOTIFY_EVENTS = ["deployed", "failed", "rolled-back", "update-available", "poll-failing", "poll-recovered", "postdeploy-failed"] as const;
export type NotifyEventName = (typeof NOTIFY_EVENTS)[number];

/** A release as events name it. */
export interface ReleaseRef {
  version: string;
  /** Left out only when a deploy failed before its tag resolved to a digest. */
  digest?: string;
}

/**
 * One event, before delivery adds the host name and the time. Fields that do not apply to the
 * event are left out (an `update-available` has no deploy id).
 */
export interface NotifyEvent {
  event: NotifyEventName | "test";
  app: string;
  deployId?: string;
  /** What started it: poll, cli, rollback, or `watch` for a rollback made by the watch after a switch. */
  trigger?: Trigger | "watch";
  /** The release the event is about: deployed, failed, found, or rolled back to. */
  release?: ReleaseRef;
  /** The release that served before: what a failure left serving, or what a rollback left. */
  previous?: ReleaseRef;
  outcome?: "succeeded" | "failed" | "rolled-back" | "available";
  error?: ErrorRecord;
  durationMs?: number;
  /** Why, in words: the reason of a rollback, or what a poll failure is. */
  reason?: string;
  /** On failure: the last lines of the new release's log (of the postdeploy command's output for `postdeploy-failed`), cleaned and bounded. */
  logTail?: string[];
  /** `postdeploy-failed`: the command's exit code (137 when killed at its timeout), and whether it ran past its timeout. */
  exitCode?: number;
  timedOut?: boolean;
}

/** What one delivery to one target came to (`agentctl notify test` prints one per target). */
export interface TargetResult {
  /** The target as messages name it: scheme and host, never its path or query (they may hold a token). */
  target: string;
  format: string;
  ok: boolean;
  /** The HTTP status of the last attempt, when there was an answer. */
  status?: number;
  /** Why the last attempt failed, in words. */
  error?: string;
  attempts: number;
}

/** What producers hold: hand an event over and go on. Never throws, never waits for delivery. */
export interface NotifySink {
  send(event: NotifyEvent): void;
  /** Sends a `test` event to every target, whatever its `events`, and waits for each result. */
  test?(app: string): Promise<TargetResult[]>;
}

/** For code run without notifications (tests, `agentctl` checks). */
export const NO_NOTIFY: NotifySink = { send: () => {} };
