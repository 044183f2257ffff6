// THE deploy sequence (docs/design.md#the-deploy-sequence), top to bottom:
// resolve → pull → [predeploy] → create → start → confirm → drain → stop → [postdeploy] → record.
// Any failure before green serves removes green and leaves blue serving; after the commit point
// (drain ended) green is live whatever fails (commit.ts); the failure branch is in one place.
import { abortReason } from "../abort.js";
import type { AppConfig } from "../config/schema.js";
import type { DeployOutcome } from "../control/api.js";
import { AgentError, toAgentError } from "../errors.js";
import { AGENT_LABELS, isWebContainer } from "../labels.js";
import { addSkip, beginDeploy, finishDeploy, hasServed, startStep } from "../state/transitions.js";
import { failedAfterCommit, finishCommitted, finishForward, isGreensFault } from "./commit.js";
import { skipsRelease } from "./faults.js";
import { chooseSlots, type SlotHolder } from "./plan.js";
import type { Slot } from "../state/schema.js";
import { swarmSequence } from "./swarm-deploy.js";
import { emit, endStepNow, nowIso, short, step, type DeployDeps, type DeployTarget, type Run } from "./run.js";
import { confirm, create, drain, pull, start } from "./steps.js";
import { rolesMissing, undoRoles } from "./roles.js";
import { removeGreen } from "./undo.js";
import { monotonicNow } from "../clock.js";
import { LOG_TAIL_LINES } from "../notify/scrub.js";
import { outcomeEvent, postdeployEvent, type OutcomeNotes } from "./notify-outcome.js";
import { predeploy } from "./one-off.js";
import type { DeployEnded } from "../metrics/sink.js";
import { endWatch } from "./watch.js";

export { short, type DeployDeps, type DeployTarget, type Registry } from "./run.js";

export async function runDeploy(deps: DeployDeps, target: DeployTarget): Promise<DeployOutcome> {
  const app = deps.config.apps[target.app];
  if (!app) throw new AgentError("BAD_ARGUMENT", `no app named "${target.app}" in the config`);
  const now = deps.now ?? (() => new Date());
  const release = deps.locks.acquire(target.app, {
    deployId: "-",
    version: target.version,
    trigger: target.trigger,
    step: "resolve",
    startedAt: now().toISOString(),
  });
  const clock = deps.clock ?? monotonicNow;
  const began = clock();
  const { live: before, history } = deps.store.app(target.app);
  const last = history[0];
  const notes: OutcomeNotes = {};
  try {
    const outcome = withHooks(deps, await sequence(deps, target, app, notes));
    const facts = { trigger: target.trigger, before, durationMs: clock() - began, notes, last };
    deps.metrics?.deployEnded(deployEnded(deps, outcome, facts));
    const event = deps.notify ? outcomeEvent(outcome, facts) : undefined;
    if (event) deps.notify?.send(event);
    const hookEvent = deps.notify ? postdeployEvent(outcome, facts) : undefined;
    if (hookEvent) deps.notify?.send(hookEvent);
    return outcome;
  } finally {
    release();
  }
}

/** The digest the deploy is of: given (a poll, a rollback), or the tag resolved now; a failure to resolve is kept for the record. */
export interface Resolved {
  startedAt: string;
  digest?: string | undefined;
  indexDigest?: string | undefined;
  error?: unknown;
}

async function resolve(deps: DeployDeps, target: DeployTarget, app: AppConfig): Promise<Resolved> {
  const now = deps.now ?? (() => new Date());
  const r: Resolved = { startedAt: now().toISOString(), digest: target.digest, indexDigest: target.indexDigest };
  if (r.digest) return r;
  try {
    const found = await deps.registry.resolveTag(app.image, target.version, { manual: target.trigger !== "poll" });
    r.digest = found.digest;
    r.indexDigest = found.indexDigest;
  } catch (err) {
    r.error = err;
  }
  return r;
}

async function sequence(deps: DeployDeps, target: DeployTarget, app: AppConfig, notes: OutcomeNotes): Promise<DeployOutcome> {
  const resolved = await resolve(deps, target, app);
  if (app.backend === "swarm") return swarmSequence(deps, target, app, notes, resolved);
  const { digest } = resolved;
  let resolveError = resolved.error;
  const live = deps.store.app(target.app).live;
  if (digest && live?.digest === digest && target.trigger !== "rollback" && (await rolesMissing(deps, target.app, live.deployId)).length === 0) {
    const found = digest;
    if (target.onLive) await deps.store.update((s) => target.onLive?.(s, { deployId: live.deployId, digest: found }));
    return { deployId: live.deployId, app: target.app, outcome: "unchanged", version: target.version, digest, slot: live.slot, generation: live.generation };
  }
  // The stopped blue of a watch holds the slot green is about to take: the watch ends first.
  if (deps.store.app(target.app).watch) await endWatch(deps, target.app, `a deploy of ${target.version} (${target.trigger}) began`);
  const held = await slotHolders(deps, target.app).catch((err: unknown) => void (resolveError ??= err));
  const slots = chooseSlots(live, held ?? []);
  const run = await openRun(deps, target, app, notes, resolved, slots);

  try {
    if (resolveError) throw resolveError;
    await endStepNow(run, "resolve", `${short(run.digest)} → slot ${run.slot}, generation ${run.generation}`);
    await step(run, "pull", () => pull(run));
    // Migrations are forward-only: a rollback goes back to code that ran on them already.
    if (app.predeploy && target.trigger !== "rollback") await step(run, "predeploy", () => predeploy(run));
    await step(run, "create", () => create(run));
    await step(run, "start", () => start(run));
    run.routed = true;
    await step(run, "confirm", () => confirm(run));
    await step(run, "drain", () => drain(run));
    return await finishCommitted(run);
  } catch (err) {
    return await fail(run, asAbortWhenStopping(run, toAgentError(err)));
  }
}

/**
 * Records the deploy as running, its resolve step begun, and says so: the Run every step carries.
 * A container app's deploy has slots; a Swarm app's has none (its record names no slot).
 */
export async function openRun(deps: DeployDeps, target: DeployTarget, app: AppConfig, notes: OutcomeNotes, resolved: Resolved, slots?: { green: Slot; blue?: Slot | undefined }): Promise<Run> {
  const { digest, indexDigest, startedAt } = resolved;
  const record = await deps.store.update((s) => {
    const r = beginDeploy(s, { app: target.app, trigger: target.trigger, version: target.version, startedAt });
    if (digest) r.digest = digest;
    if (indexDigest) r.indexDigest = indexDigest;
    if (slots) r.slot = slots.green;
    startStep(r, "resolve", startedAt);
    return structuredClone(r);
  });
  const run: Run = {
    deps,
    target,
    app,
    id: record.id,
    slot: slots?.green ?? "blue",
    blueSlot: slots?.blue,
    generation: record.generation ?? 0,
    digest: digest ?? "",
    indexDigest,
    routed: false,
    committed: false,
    notes,
    log: deps.log.child({ app: target.app, deployId: record.id, version: target.version, digest }),
  };
  deps.locks.setStep(target.app, "resolve", record.id);
  emit(run, { type: "started", app: target.app, deployId: record.id, trigger: target.trigger, version: target.version, at: startedAt });
  emit(run, { type: "step", app: target.app, deployId: run.id, step: "resolve", phase: "start", at: startedAt });
  deps.onBoundary?.("resolve", "start");
  return run;
}

/** What the metrics count of a deploy; an `unchanged` outcome names the live release's deploy, whose steps are not this one's. */
function deployEnded(deps: DeployDeps, o: DeployOutcome, f: { trigger: DeployTarget["trigger"]; durationMs: number }): DeployEnded {
  const steps = o.outcome === "unchanged" ? [] : (deps.store.app(o.app).history.find((h) => h.id === o.deployId)?.steps ?? []);
  return { app: o.app, trigger: f.trigger, outcome: o.outcome, durationMs: f.durationMs, steps };
}

/** The outcome with the release steps' results from its record, for `agentctl deploy` to print. */
function withHooks(deps: DeployDeps, o: DeployOutcome): DeployOutcome {
  const hooks = deps.store.app(o.app).history.find((h) => h.id === o.deployId)?.hooks;
  return hooks ? { ...o, hooks } : o;
}

/** This agent's containers of `app` as the Engine lists them, by slot. */
async function slotHolders(deps: DeployDeps, app: string): Promise<SlotHolder[]> {
  const { own } = await deps.engine.summary(app);
  return own
    // Web's containers only: probes, one-offs and roles hold no slot.
    .filter((c) => isWebContainer(c.labels))
    .map((c) => ({
      slot: c.labels[AGENT_LABELS.slot] === "green" ? "green" : "blue",
      running: c.state === "running",
      generation: Number(c.labels[AGENT_LABELS.generation]) || 0,
    }));
}

/**
 * A step that fails while the agent stops most likely failed because of the stop (a pull cut off
 * reports PULL_FAILED): it counts as aborted, so the record says why and the digest is not skipped.
 */
export function asAbortWhenStopping(run: Run, err: AgentError): AgentError {
  if (run.committed || !run.target.signal?.aborted || err.code === "DEPLOY_ABORTED") return err;
  const step = run.deps.locks.current(run.target.app)?.step ?? "resolve";
  const message = `deploy ${run.id} of ${run.target.app} stopped during ${step}: ${abortReason(run.target.signal)} (${err.message})`;
  return new AgentError("DEPLOY_ABORTED", message, { cause: err });
}

/**
 * The failure branch. After the commit point green stays live (commit.ts). Before it, while green
 * is routed and did not fail itself, the deploy goes on (commit.ts). Otherwise green goes (out of
 * routing first when it was routed, undo.ts), blue stays, and the record says why.
 */
export async function fail(run: Run, err: AgentError): Promise<DeployOutcome> {
  if (run.committed) return failedAfterCommit(run, err);
  if (run.routed && !isGreensFault(err)) {
    const forward = await finishForward(run, err).catch((e: unknown) => (run.committed ? failedAfterCommit(run, toAgentError(e)) : undefined));
    if (forward) return forward;
  }
  const aborted = err.code === "DEPLOY_ABORTED";
  run.log.error({ code: err.code, err: err.message }, aborted ? "deploy aborted; the live release keeps serving" : "deploy failed; the live release keeps serving");
  // When the release itself failed, its last log lines go into the notification, so they are read
  // before its container goes. Not for other faults: an Engine that does not answer would hold the undo up.
  if (isGreensFault(err) && run.greenId && run.deps.notify && run.notes) run.notes.logTail = await run.deps.engine.logTail(run.greenId, LOG_TAIL_LINES);
  await removeGreen(run, err);
  await undoRoles(run);
  const error = err.toJSON();
  await run.deps.store.update((s) => {
    // Already closed (by a step that failed after closing it): the original error is what is reported.
    if (s.apps[run.target.app]?.history.find((h) => h.id === run.id)?.outcome !== "running") return;
    finishDeploy(s, run.target.app, run.id, { outcome: aborted ? "aborted" : "failed", error, endedAt: nowIso(run) });
    // Only a fault of the release itself skips its digest (faults.ts); a passing fault of the
    // registry, the Engine or this host is tried again by the next polls, with backoff. A digest that served (live or kept, as a rollback's is) is never skipped.
    if (skipsRelease(err.code) && run.digest && !hasServed(s.apps[run.target.app], run.digest)) {
      addSkip(s, run.target.app, { digest: run.digest, version: run.target.version, reason: "failed", deployId: run.id, at: nowIso(run) });
    }
  });
  return {
    deployId: run.id,
    app: run.target.app,
    outcome: aborted ? "aborted" : "failed",
    version: run.target.version,
    ...(run.digest ? { digest: run.digest } : {}),
    ...(run.swarm ? {} : { slot: run.slot }),
    generation: run.generation,
    error,
  };
}
