// THE deploy sequence (docs/design.md#the-deploy-sequence), top to bottom:
// resolve → pull → create → start → confirm → drain → stop → record.
// Any failure before blue is stopped removes green and leaves blue serving; the failure branch is in one place.
import { abortReason } from "../abort.js";
import type { AppConfig } from "../config/schema.js";
import type { DeployOutcome } from "../control/api.js";
import { AgentError, toAgentError } from "../errors.js";
import type { StepName } from "../state/schema.js";
import { addSkip, beginDeploy, endStep, finishDeploy, startStep } from "../state/transitions.js";
import { skipsRelease } from "./faults.js";
import { greenSlot } from "./plan.js";
import { emit, nowIso, short, updateRecord, type DeployDeps, type DeployTarget, type Run } from "./run.js";
import { confirm, create, drain, pull, recordSuccess, start, stopBlue } from "./steps.js";

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
  try {
    return await sequence(deps, target, app);
  } finally {
    release();
  }
}

async function sequence(deps: DeployDeps, target: DeployTarget, app: AppConfig): Promise<DeployOutcome> {
  const now = deps.now ?? (() => new Date());
  const resolveStarted = now().toISOString();
  let digest = target.digest;
  let indexDigest = target.indexDigest;
  let resolveError: unknown;
  if (!digest) {
    try {
      const r = await deps.registry.resolveTag(app.image, target.version, { manual: target.trigger !== "poll" });
      digest = r.digest;
      indexDigest = r.indexDigest;
    } catch (err) {
      resolveError = err;
    }
  }
  const live = deps.store.app(target.app).live;
  if (digest && live?.digest === digest && target.trigger !== "rollback") {
    return { deployId: live.deployId, app: target.app, outcome: "unchanged", version: target.version, digest, slot: live.slot, generation: live.generation };
  }

  const record = await deps.store.update((s) => {
    const r = beginDeploy(s, { app: target.app, trigger: target.trigger, version: target.version, startedAt: resolveStarted });
    if (digest) r.digest = digest;
    if (indexDigest) r.indexDigest = indexDigest;
    r.slot = greenSlot(s.apps[target.app]?.live);
    startStep(r, "resolve", resolveStarted);
    return structuredClone(r);
  });
  const run: Run = {
    deps,
    target,
    app,
    id: record.id,
    slot: record.slot ?? "blue",
    generation: record.generation ?? 0,
    digest: digest ?? "",
    indexDigest,
    committed: false,
    log: deps.log.child({ app: target.app, deployId: record.id, version: target.version, digest }),
  };
  deps.locks.setStep(target.app, "resolve", record.id);
  emit(run, { type: "started", app: target.app, deployId: record.id, trigger: target.trigger, version: target.version, at: resolveStarted });
  emit(run, { type: "step", app: target.app, deployId: run.id, step: "resolve", phase: "start", at: resolveStarted });

  try {
    if (resolveError) throw resolveError;
    await endStepNow(run, "resolve", `${short(run.digest)} → slot ${run.slot}, generation ${run.generation}`);
    await step(run, "pull", () => pull(run));
    await step(run, "create", () => create(run));
    await step(run, "start", () => start(run));
    await step(run, "confirm", () => confirm(run));
    await step(run, "drain", () => drain(run));
    run.committed = true;
    await step(run, "stop", () => stopBlue(run));
    await step(run, "record", () => recordSuccess(run));
    run.log.info({ slot: run.slot, generation: run.generation }, "deploy succeeded");
    return { deployId: run.id, app: target.app, outcome: "succeeded", version: target.version, digest: run.digest, slot: run.slot, generation: run.generation };
  } catch (err) {
    return await fail(run, asAbortWhenStopping(run, toAgentError(err)));
  }
}

/**
 * A step that fails while the agent stops most likely failed because of the stop (a pull cut off
 * reports PULL_FAILED): it counts as aborted, so the record says why and the digest is not skipped.
 */
function asAbortWhenStopping(run: Run, err: AgentError): AgentError {
  if (run.committed || !run.target.signal?.aborted || err.code === "DEPLOY_ABORTED") return err;
  const step = run.deps.locks.current(run.target.app)?.step ?? "resolve";
  const message = `deploy ${run.id} of ${run.target.app} stopped during ${step}: ${abortReason(run.target.signal)} (${err.message})`;
  return new AgentError("DEPLOY_ABORTED", message, { cause: err });
}

/** Writes the step's start to the state file before doing it, so a restarted agent knows where it stopped. */
async function step(run: Run, name: StepName, body: () => Promise<string | void>): Promise<void> {
  if (!run.committed && run.target.signal?.aborted) {
    throw new AgentError("DEPLOY_ABORTED", `deploy ${run.id} of ${run.target.app} stopped before ${name}: ${abortReason(run.target.signal)}`);
  }
  const at = nowIso(run);
  await updateRecord(run, (r) => startStep(r, name, at));
  run.deps.locks.setStep(run.target.app, name);
  run.log.info({ step: name }, `step ${name} started`);
  emit(run, { type: "step", app: run.target.app, deployId: run.id, step: name, phase: "start", at });
  const detail = await body();
  await endStepNow(run, name, detail ?? undefined);
}

async function endStepNow(run: Run, name: StepName, detail?: string): Promise<void> {
  const at = nowIso(run);
  await updateRecord(run, (r) => endStep(r, name, at, detail));
  run.log.info({ step: name, detail }, `step ${name} done`);
  emit(run, { type: "step", app: run.target.app, deployId: run.id, step: name, phase: "end", at, ...(detail ? { detail } : {}) });
}

/** The failure branch: before the commit point green goes and blue stays; the record says why. */
async function fail(run: Run, err: AgentError): Promise<DeployOutcome> {
  const aborted = err.code === "DEPLOY_ABORTED";
  run.log.error({ code: err.code, err: err.message }, aborted ? "deploy aborted; the live release keeps serving" : "deploy failed; the live release keeps serving");
  if (!run.committed && run.greenId) {
    try {
      await run.deps.engine.remove(run.target.app, run.greenId);
    } catch (cleanupErr) {
      run.log.error({ err: toAgentError(cleanupErr).message }, "could not remove the new release's container after the failure; reconcile will");
    }
  }
  const error = err.toJSON();
  await run.deps.store.update((s) => {
    finishDeploy(s, run.target.app, run.id, { outcome: aborted ? "aborted" : "failed", error, endedAt: nowIso(run) });
    // Only a fault of the release itself skips its digest (faults.ts); a passing fault of the
    // registry, the Engine or this host is tried again by the next polls, with backoff.
    if (skipsRelease(err.code) && run.digest) {
      addSkip(s, run.target.app, { digest: run.digest, version: run.target.version, reason: "failed", deployId: run.id, at: nowIso(run) });
    }
  });
  return {
    deployId: run.id,
    app: run.target.app,
    outcome: aborted ? "aborted" : "failed",
    version: run.target.version,
    ...(run.digest ? { digest: run.digest } : {}),
    slot: run.slot,
    generation: run.generation,
    error,
  };
}
