// Every deploy's outcome as one notification, decided in one place: a release live → `deployed`
// (or `rolled-back` for `agentctl rollback`), a failure → `failed` with the new release's last log
// lines; a deploy stopped by SIGTERM, or that found the release live already, sends nothing. A
// poll's retry of a digest that failed the same way last time (a passing fault, tried again after
// a backoff) sends nothing either: one failure of hours is one notification, not one per retry.
import type { DeployOutcome } from "../control/api.js";
import type { NotifyEvent, ReleaseRef } from "../notify/event.js";
import type { DeployRecord, ErrorRecord, HookRun, Live, Trigger } from "../state/schema.js";

/** What the failure branch keeps for the notification before green is removed. */
export interface OutcomeNotes {
  /** The new release's last log lines, read before its container goes. */
  logTail?: string;
  /** A postdeploy that failed (how it ended), or could not run (why): sent as `postdeploy-failed`. */
  postdeploy?: PostdeployFailure;
}

/** How a postdeploy that did not exit 0 ended: its run, or why it could not run. */
export type PostdeployFailure = { hook?: HookRun; error?: ErrorRecord };

export interface OutcomeFacts {
  trigger: Trigger;
  /** What was live when the deploy began. */
  before: Live | undefined;
  durationMs: number;
  notes: OutcomeNotes;
  /** The app's deploy before this one, if any. */
  last?: DeployRecord | undefined;
}

/** True when `o` is a poll's retry that failed as the deploy before it did, on the same digest. */
function repeatsFailure(o: DeployOutcome, f: OutcomeFacts): boolean {
  const last = f.last;
  return f.trigger === "poll" && last?.trigger === "poll" && last.outcome === "failed" && last.digest === o.digest && last.error?.code === o.error?.code;
}

/** `postdeploy-failed` when the deploy's postdeploy failed; the release is live all the same. */
export function postdeployEvent(o: DeployOutcome, f: OutcomeFacts): NotifyEvent | undefined {
  const failed = f.notes.postdeploy;
  if (!failed || o.outcome !== "succeeded") return undefined;
  return postdeployFailed({ app: o.app, deployId: o.deployId, trigger: f.trigger, release: { version: o.version, ...(o.digest ? { digest: o.digest } : {}) } }, failed);
}

/** The `postdeploy-failed` event of a live release's deploy (a deploy's own, or one reconcile finished). */
export function postdeployFailed(d: { app: string; deployId: string; trigger: Trigger; release: ReleaseRef }, failed: PostdeployFailure): NotifyEvent {
  const h = failed.hook;
  const logTail = h?.output.split("\n").filter((l) => l.trim() !== "");
  return {
    event: "postdeploy-failed",
    ...d,
    outcome: "succeeded",
    ...(h ? { exitCode: h.exitCode, timedOut: h.timedOut } : {}),
    ...(failed.error ? { error: failed.error } : {}),
    ...(logTail?.length ? { logTail } : {}),
  };
}

export function outcomeEvent(o: DeployOutcome, f: OutcomeFacts): NotifyEvent | undefined {
  if (o.outcome === "aborted" || o.outcome === "unchanged") return undefined;
  const release: ReleaseRef = { version: o.version, ...(o.digest ? { digest: o.digest } : {}) };
  const base = {
    app: o.app,
    deployId: o.deployId,
    trigger: f.trigger,
    release,
    ...(f.before ? { previous: { version: f.before.version, digest: f.before.digest } } : {}),
    durationMs: Math.round(f.durationMs),
  };
  if (o.outcome === "failed") {
    if (repeatsFailure(o, f)) return undefined;
    const logTail = f.notes.logTail?.split("\n").filter((l) => l.trim() !== "");
    return { event: "failed", ...base, outcome: "failed", ...(o.error ? { error: o.error } : {}), ...(logTail?.length ? { logTail } : {}) };
  }
  if (f.trigger === "rollback") return { event: "rolled-back", ...base, outcome: "rolled-back", reason: "agentctl rollback" };
  return { event: "deployed", ...base, outcome: "succeeded" };
}
