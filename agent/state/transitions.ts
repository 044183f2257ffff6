// Pure changes to the state that deploy logic makes inside StateStore.update(): each mutates the
// draft it is given and does no I/O, so every rule about ids, generations and lists lives here.
import { AgentError } from "../errors.js";
import {
  emptyAppState,
  type AppState,
  type DeployRecord,
  type ErrorRecord,
  type Live,
  type Outcome,
  type Release,
  type SkipEntry,
  type State,
  type StepName,
  type StepRecord,
  type Trigger,
} from "./schema.js";

export type FinalOutcome = Exclude<Outcome, "running">;

/** The app's state in the draft, created empty if the app has none yet. */
export function ensureApp(state: State, app: string): AppState {
  const existing = state.apps[app];
  if (existing) return existing;
  const created = emptyAppState();
  state.apps[app] = created;
  return created;
}

/** Takes the next deploy id ("1", "2", …); durable once the update that calls it is written. */
export function allocateDeployId(state: State): string {
  const id = String(state.nextDeployId);
  state.nextDeployId += 1;
  return id;
}

/**
 * Records a deploy as `running` at the front of the app's history and returns that record (part
 * of the draft, so later changes in the same update are saved). The generation is consumed now,
 * not on success: a failed green may have existed with it, and Traefik priorities must only grow.
 */
export function beginDeploy(
  state: State,
  start: { app: string; trigger: Trigger; version: string; startedAt: string },
): DeployRecord {
  const app = ensureApp(state, start.app);
  const generation = app.generation + 1;
  app.generation = generation;
  const record: DeployRecord = {
    id: allocateDeployId(state),
    app: start.app,
    trigger: start.trigger,
    version: start.version,
    generation,
    steps: [],
    outcome: "running",
    startedAt: start.startedAt,
  };
  if (app.live) {
    const { digest, version, slot, generation: liveGeneration } = app.live;
    record.previous = { digest, version, slot, generation: liveGeneration };
  }
  app.history.unshift(record);
  return record;
}

export function startStep(record: DeployRecord, step: StepName, at: string): StepRecord {
  const entry: StepRecord = { name: step, startedAt: at };
  record.steps.push(entry);
  return entry;
}

/** Ends the latest open entry of `step`; a step that was never started is a bug in the caller. */
export function endStep(record: DeployRecord, step: StepName, at: string, detail?: string): StepRecord {
  const entry = record.steps.findLast((s) => s.name === step && s.endedAt === undefined);
  if (!entry) {
    throw new AgentError("INTERNAL", `deploy ${record.id} of ${record.app}: step ${step} ended but was never started`);
  }
  entry.endedAt = at;
  if (detail !== undefined) entry.detail = detail;
  return entry;
}

/**
 * Closes a running deploy. When it failed or was aborted, a step still open is where it stopped:
 * it ends now, its detail saying how (`failed (GREEN_UNHEALTHY)`), so the history shows how long
 * the failing step took. A succeeding deploy ends its own steps (the record step ends after this,
 * with its detail). Throws when the record is missing or already finished, since both mean two
 * writers disagree.
 */
export function finishDeploy(
  state: State,
  app: string,
  deployId: string,
  end: { outcome: FinalOutcome; error?: ErrorRecord; endedAt: string },
): DeployRecord {
  const record = state.apps[app]?.history.find((r) => r.id === deployId);
  if (!record) throw new AgentError("INTERNAL", `deploy ${deployId} of ${app} is not in the state file`);
  if (record.outcome !== "running") {
    throw new AgentError("INTERNAL", `deploy ${deployId} of ${app} already finished (${record.outcome})`);
  }
  record.outcome = end.outcome;
  record.endedAt = end.endedAt;
  if (end.error !== undefined) record.error = end.error;
  if (end.outcome === "succeeded") return record;
  const how = `${end.outcome}${end.error ? ` (${end.error.code})` : ""}`;
  for (const entry of record.steps) {
    if (entry.endedAt !== undefined) continue;
    entry.endedAt = end.endedAt;
    if (entry.detail === undefined) entry.detail = how;
  }
  return record;
}

/**
 * Makes `live` the app's live release and puts `release` first in its releases, keeping at most
 * `keep`. Returns the releases dropped, whose images the caller may delete. A release with the
 * same digest elsewhere in the list is replaced rather than duplicated (a rollback re-promotes
 * an old digest): a duplicate would later be trimmed and returned, and deleting its image would
 * delete the live one. The replaced entry's keepTag carries over when the new one has none.
 */
export function promoteLive(state: State, app: string, release: Release, live: Live, keep: number): Release[] {
  if (!Number.isInteger(keep) || keep < 1) {
    throw new AgentError("INTERNAL", `promoteLive: keep must be an integer ≥ 1, got ${keep}`);
  }
  if (release.digest !== live.digest) {
    throw new AgentError("INTERNAL", `promoteLive: release ${release.digest} is not the live digest ${live.digest}`);
  }
  const appState = ensureApp(state, app);
  appState.live = live;
  const same = appState.releases.findIndex((r) => r.digest === release.digest);
  const next: Release = { ...release };
  if (same >= 0) {
    const [replaced] = appState.releases.splice(same, 1);
    if (next.keepTag === undefined && replaced?.keepTag !== undefined) next.keepTag = replaced.keepTag;
  }
  appState.releases.unshift(next);
  return appState.releases.splice(keep);
}

/** Adds (or refreshes, moving it to the front) the skip entry for a digest. The store bounds the list. */
export function addSkip(state: State, app: string, entry: SkipEntry): void {
  const appState = ensureApp(state, app);
  appState.skip = appState.skip.filter((s) => s.digest !== entry.digest);
  appState.skip.unshift({ ...entry });
}

/**
 * A rollback that sticks: the app is pinned to the release it went back to (as a deploy of that
 * version would pin it), and what served until now goes on the skip list, so the poller does not
 * bring it back even after `agentctl resume`. Called before `live` moves to the rollback's release.
 */
export function stickRollback(
  state: State,
  app: string,
  to: { version: string; digest: string; deployId: string },
  at: string,
  from: { version: string; digest: string } | undefined = state.apps[app]?.live,
): void {
  const a = ensureApp(state, app);
  const left = from && from.digest !== to.digest ? { version: from.version, digest: from.digest } : undefined;
  a.pin = { ...to, since: at, ...(left ? { rolledBackFrom: left } : {}) };
  if (left) addSkip(state, app, { ...left, reason: "rolled-back", deployId: to.deployId, at });
}

/** Whether `digest` is live or a kept release: it served, so it is never put on the skip list. */
export function hasServed(app: Readonly<AppState> | undefined, digest: string): boolean {
  return app?.live?.digest === digest || (app?.releases.some((r) => r.digest === digest) ?? false);
}

export function isSkipped(app: Readonly<AppState>, digest: string): boolean {
  return app.skip.some((s) => s.digest === digest);
}

/** The newest release whose version, digest or index digest is `versionOrDigest` exactly. */
export function findRelease(app: Readonly<AppState>, versionOrDigest: string): Release | undefined {
  const wanted = versionOrDigest.trim();
  return (
    app.releases.find((r) => r.digest === wanted || r.indexDigest === wanted) ??
    app.releases.find((r) => r.version === wanted)
  );
}

/** What `rollback` goes back to: the newest release that is not what serves now. */
export function previousRelease(app: Readonly<AppState>): Release | undefined {
  const liveDigest = app.live?.digest;
  return app.releases.find((r) => r.digest !== liveDigest);
}
