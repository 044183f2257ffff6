// The deploy's commit point and what follows it (docs/design.md#the-commit-point). Once green is
// healthy Traefik routes to it; once drain ends it is recorded live, and from then on nothing that
// fails takes that back: blue is stopped, then the rest is done as well as it can be.
import type { DeployOutcome } from "../control/api.js";
import { toAgentError, type AgentError } from "../errors.js";
import type { Live } from "../state/schema.js";
import { ensureApp, finishDeploy } from "../state/transitions.js";
import { removeServicesLeft } from "./backend-move.js";
import { postdeploy } from "./one-off.js";
import { stopRoleBlues } from "./roles.js";
import { drain, recordSuccess, stopBlue } from "./steps.js";
import { endStepNow, mustGreen, nowIso, step, type Run } from "./run.js";

/**
 * Faults of green itself. Traefik dropped green when it turned unhealthy or exited (and a Traefik
 * that never listed green never routed to it), so removing green then cuts no request.
 */
export function isGreensFault(err: AgentError): boolean {
  return err.code === "GREEN_UNHEALTHY" || err.code === "GREEN_EXITED";
}

/**
 * The commit point: green becomes `live` (its skip entry goes, and the caller's own change with
 * it) in one update, before blue is stopped. A state file that cannot be written keeps this in
 * memory (state/store.ts), so the switch is never undone for it.
 */
export async function commitLive(run: Run): Promise<void> {
  run.committed = true;
  const live: Live = {
    deployId: run.id,
    version: run.target.version,
    digest: run.digest,
    imageId: run.imageId ?? "",
    slot: run.slot,
    generation: run.generation,
    since: nowIso(run),
  };
  run.live = live;
  await run.deps.store.update((s) => {
    // Before `live` moves, so the caller's change sees what served until now.
    run.target.onLive?.(s, { deployId: run.id, digest: run.digest });
    const a = ensureApp(s, run.target.app);
    a.live = live;
    a.skip = a.skip.filter((e) => e.digest !== run.digest);
  });
  run.log.info({ slot: run.slot, generation: run.generation }, "the new release is live; stopping the previous one");
}

/** From the commit point to the end: stop blue, the postdeploy command, then restart policy, keep-tag and pruning. */
export async function finishCommitted(run: Run): Promise<DeployOutcome> {
  await commitLive(run);
  await step(run, "stop", async () => `${await stopBlue(run)}${await stopRoleBlues(run)}${await removeServicesLeft(run.deps, run.target.app, run.app)}`);
  if (run.app.postdeploy) await step(run, "postdeploy", () => postdeploy(run));
  await step(run, "record", () => recordSuccess(run));
  run.log.info({ slot: run.slot, generation: run.generation }, "deploy succeeded");
  return succeeded(run);
}

/**
 * A failure that is not green's own while green is routed (an Engine error in confirm or drain, a
 * SIGTERM): removing green now would cut the requests Traefik sends it, and blue still runs, so
 * the deploy goes on instead. Returns undefined when green turns out to have failed itself (then
 * Traefik is back on blue and the usual failure branch removes green).
 */
export async function finishForward(run: Run, err: AgentError): Promise<DeployOutcome | undefined> {
  const id = mustGreen(run);
  const label = `the new release ${run.target.app}-${run.slot}`;
  try {
    await run.deps.engine.checkRunning(id, label, run.imageRef);
  } catch (checkErr) {
    if (isGreensFault(toAgentError(checkErr))) return undefined;
    // The Engine does not answer: green was healthy when it last did, so it is still the one routed.
  }
  run.log.warn({ code: err.code, err: err.message }, "a step failed while the new release serves; the deploy goes on rather than removing it");
  const open = openStep(run);
  if (open) await endStepNow(run, open, `${err.message}; the new release serves, so the deploy goes on`);
  if (!stepEnded(run, "drain")) {
    try {
      await step(run, "drain", () => drain(run));
    } catch (drainErr) {
      const e = toAgentError(drainErr);
      if (isGreensFault(e)) return undefined;
      if (openStep(run) === "drain") await endStepNow(run, "drain", `not watched to the end: ${e.message}`);
    }
  }
  return finishCommitted(run);
}

/**
 * A failure after the commit point: green stays live and the deploy stays succeeded. The record
 * says what went wrong in the step it happened in; a record already closed (the failure came
 * after promote) is left as it is, and the original error is what the log shows.
 */
export async function failedAfterCommit(run: Run, err: AgentError): Promise<DeployOutcome> {
  run.log.error({ code: err.code, err: err.message }, "a step after the commit point failed; the new release serves and stays live");
  const live = run.live;
  await run.deps.store.update((s) => {
    const a = ensureApp(s, run.target.app);
    if (live && a.live?.deployId !== live.deployId) a.live = live;
    a.skip = a.skip.filter((e) => e.digest !== run.digest);
    const r = a.history.find((h) => h.id === run.id);
    if (r?.outcome !== "running") return;
    const at = nowIso(run);
    for (const entry of r.steps) {
      if (entry.endedAt !== undefined) continue;
      entry.endedAt = at;
      entry.detail = `${err.code}: ${err.message}`;
    }
    finishDeploy(s, run.target.app, run.id, { outcome: "succeeded", endedAt: at });
  });
  return succeeded(run);
}

function succeeded(run: Run): DeployOutcome {
  const { target } = run;
  return { deployId: run.id, app: target.app, outcome: "succeeded", version: target.version, digest: run.digest, slot: run.slot, generation: run.generation };
}

function record(run: Run) {
  return run.deps.store.app(run.target.app).history.find((h) => h.id === run.id);
}

function openStep(run: Run) {
  return record(run)?.steps.findLast((s) => s.endedAt === undefined)?.name;
}

function stepEnded(run: Run, name: string): boolean {
  return record(run)?.steps.some((s) => s.name === name && s.endedAt !== undefined) ?? false;
}
