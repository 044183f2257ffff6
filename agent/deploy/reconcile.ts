// On start, rebuild each app's truth from the Engine's labels and the state file, so that exactly
// one slot serves: a deploy found half done is finished (traffic had switched) or undone (it had not).
// Only containers this agent made are seen here (docker/ filters by owner); anything else is left alone.
import type { AppConfig } from "../config/schema.js";
import type { ContainerDetail, Health } from "../docker/engine.js";
import { toAgentError } from "../errors.js";
import { AGENT_LABELS } from "../labels.js";
import type { DeployRecord, Live, Slot, StepName } from "../state/schema.js";
import { deadline } from "../clock.js";
import { sleep } from "../sleep.js";
import { ensureApp, finishDeploy, stickRollback } from "../state/transitions.js";
import type { DeployDeps } from "./deploy.js";
import { postdeployAfterRestart } from "./postdeploy-restart.js";
import { promote } from "./promote.js";
import { settleRoles } from "./reconcile-roles.js";
import { reconcileSwarmApp } from "./swarm-reconcile.js";
import { reconcileWatch } from "./watch.js";

/** In these steps green had passed its health gate, so Traefik routed to it (docs/design.md#slots-and-router-priorities). */
const ROUTED: readonly StepName[] = ["confirm", "drain", "stop", "postdeploy", "record"];

/**
 * Whether a deploy the agent stopped in had green serving: its start ended (green healthy) or it
 * was further on. Removing such a green would cut the requests Traefik sends it, so the deploy is
 * finished instead, when green still runs and passes.
 */
export function greenWasRouted(record: Pick<DeployRecord, "steps">): boolean {
  const last = record.steps.at(-1);
  if (!last) return false;
  return ROUTED.includes(last.name) || (last.name === "start" && last.endedAt !== undefined);
}

export interface ReconcileReport {
  app: string;
  actions: string[];
  serving?: string;
}

export async function reconcileApp(deps: DeployDeps, appName: string): Promise<ReconcileReport> {
  const app = deps.config.apps[appName];
  if (!app) return { app: appName, actions: [] };
  if (app.backend === "swarm") return reconcileSwarmApp(deps, appName, app);
  const { engine } = deps;
  const log = deps.log.child({ app: appName, step: "reconcile" });
  const actions: string[] = [];
  const note = (msg: string) => {
    actions.push(msg);
    log.warn(msg);
  };

  const found = await engine.containers(appName);
  for (const p of found.probes) await engine.remove(appName, p.id);
  // A release step the agent stopped in is not run again by itself: its deploy is undone or finished below, and the next poll or deploy runs it afresh.
  for (const o of found.oneOffs) {
    await engine.remove(appName, o.id);
    note(`removed ${o.name}, the ${o.labels[AGENT_LABELS.role]} of deploy ${o.labels[AGENT_LABELS.deployId] ?? "?"} the agent stopped during; it is not run again by itself`);
  }
  for (const c of found.conflicts) {
    log.warn({ container: c.name, state: c.state }, `container ${c.name} holds one of ${appName}'s slot names but is ${c.reason}; left alone`);
  }
  const containers = found.own;

  const open = deps.store.app(appName).history.filter((r) => r.outcome === "running");
  for (const record of open) {
    const green = containers.find((c) => c.labels[AGENT_LABELS.deployId] === record.id);
    const lastStep = record.steps.at(-1)?.name ?? "resolve";
    const healthy = green ? await isServing(deps, green) : false;
    if (green && healthy && greenWasRouted(record)) {
      const hook = await finishForward(deps, app, appName, record, green);
      note(`deploy ${record.id} was in step ${lastStep} when the agent stopped; the new release served, so the deploy was finished${hook ? ` (postdeploy: ${hook})` : ""}`);
    } else {
      if (green) await engine.remove(appName, green.id);
      await deps.store.update((s) =>
        finishDeploy(s, appName, record.id, {
          outcome: "aborted",
          endedAt: new Date().toISOString(),
          error: {
            code: "DEPLOY_ABORTED",
            message: `the agent stopped during step ${lastStep}; ${green ? "the new release's container was removed and " : ""}the previous release kept serving`,
          },
        }),
      );
      note(`deploy ${record.id} was in step ${lastStep} when the agent stopped; it was undone`);
    }
  }

  // A watch after a switch keeps blue stopped on purpose: settled here first, and left alone while it goes on.
  const kept = await reconcileWatch(deps, appName, note);
  const serving = await settleOneServing(deps, appName, (await engine.containers(appName)).own.filter((c) => c.id !== kept), note);
  await settleRoles(deps, appName, note, kept ? deps.store.app(appName).watch?.blue.deployId : undefined);
  return { app: appName, actions, ...(serving ? { serving } : {}) };
}

/**
 * Green served when the agent stopped: make it live (a rollback's pin and skip with it), give blue
 * its drain if the deploy had not drained yet, stop the others, then run the postdeploy the deploy
 * had not reached yet.
 */
async function finishForward(deps: DeployDeps, app: AppConfig, appName: string, record: DeployRecord, green: ContainerDetail): Promise<string | undefined> {
  const live = liveFromLabels(green, record.id);
  await deps.store.update((s) => {
    const a = ensureApp(s, appName);
    if (record.trigger === "rollback" && a.pin?.deployId !== record.id) {
      stickRollback(s, appName, { version: live.version, digest: live.digest, deployId: record.id }, new Date().toISOString(), record.previous);
    }
    a.live = live;
  });
  const drained = record.steps.some((st) => st.name === "drain" && st.endedAt !== undefined);
  if (!drained && record.previous) await sleep(app.settle + app.drain);
  for (const c of (await deps.engine.containers(appName)).own) {
    if (c.id !== green.id) await deps.engine.stopAndRemove(appName, c.id, app.stopTimeout);
  }
  const hook = await postdeployAfterRestart(deps, appName, app, record, live);
  await promote(deps, appName, app, { containerId: green.id, live, indexDigest: record.indexDigest, at: live.since });
  return hook;
}

/**
 * Leaves exactly one running container for the app: the live release's if it runs, else the newest
 * running one (adopted from its labels). Stopped leftovers are removed. If nothing runs, the live
 * record is cleared so the next poll deploys the tracked tag again.
 */
async function settleOneServing(
  deps: DeployDeps,
  appName: string,
  containers: ContainerDetail[],
  note: (m: string) => void,
): Promise<string | undefined> {
  const { engine } = deps;
  const app = deps.config.apps[appName];
  const live = deps.store.app(appName).live;
  const running = containers.filter((c) => c.running).sort((a, b) => generationOf(b) - generationOf(a));
  let keep = live ? running.find((c) => c.labels[AGENT_LABELS.digest] === live.digest && slotOf(c) === live.slot) : undefined;
  const newer = keep && app ? await outranking(deps, running, generationOf(keep), app.health.startTimeout) : undefined;
  if (keep && newer && app) {
    // Traefik may route to it already (a deploy that failed while the Engine was away left it, and it
    // turned healthy once the Engine answered): removing it would cut its requests, so it goes live,
    // and the release it outranks gets the settle and drain a deploy gives it before it goes.
    const adopted = liveFromLabels(newer, newer.labels[AGENT_LABELS.deployId] ?? "adopted");
    await promote(deps, appName, app, { containerId: newer.id, live: adopted, at: new Date().toISOString() });
    note(`${newer.name} (${adopted.version}) passes its health check and outranks the live ${keep.name} in Traefik, so it may be serving: it is now the live release`);
    await sleep(app.settle + app.drain);
    keep = newer;
  }

  if (!keep && live) {
    const stopped = containers.find((c) => !c.running && c.labels[AGENT_LABELS.deployId] === live.deployId);
    if (stopped && running.length === 0) {
      try {
        keep = await engine.start(appName, stopped.id);
        note(`the live container ${stopped.name} was stopped; it was started again`);
      } catch (err) {
        note(`the live container ${stopped.name} was stopped and would not start: ${toAgentError(err).message}`);
      }
    }
  }
  if (!keep && running[0]) {
    keep = running[0];
    const adopted = liveFromLabels(keep, keep.labels[AGENT_LABELS.deployId] ?? "adopted");
    await deps.store.update((s) => {
      const a = ensureApp(s, appName);
      a.live = adopted;
      a.generation = Math.max(a.generation, adopted.generation);
    });
    note(`adopted ${keep.name} (${adopted.version}) as the live release from its labels`);
  }
  for (const c of containers) {
    if (c.id === keep?.id) continue;
    await engine.stopAndRemove(appName, c.id, app?.stopTimeout ?? 10_000);
    note(`removed ${c.name}, which was not the serving slot`);
  }
  if (!keep && live) {
    await deps.store.update((s) => {
      delete ensureApp(s, appName).live;
    });
    note(`no container of ${appName} runs; the next poll deploys the tracked tag again`);
  }
  const maxGen = Math.max(0, ...containers.map(generationOf));
  if (maxGen > deps.store.app(appName).generation) {
    await deps.store.update((s) => {
      ensureApp(s, appName).generation = maxGen;
    });
  }
  return keep ? keep.name : undefined;
}

/**
 * Whether a container may be the one Traefik routes to instead of the live one: it runs, its
 * router outranks the live one's (a higher generation, docs/design.md#slots-and-router-priorities),
 * and Docker does not keep it out of routing (healthy, or no health check).
 */
export function outranksLive(c: { running: boolean; generation: number; health: Health }, liveGeneration: number): boolean {
  return c.running && c.generation > liveGeneration && (c.health === "healthy" || c.health === "none");
}

/**
 * Whether a container may turn into the one Traefik routes to: it outranks the live one but
 * Docker's health check has not passed yet. Removing it is safe only once that is settled.
 */
export function mayTurnServing(c: { running: boolean; generation: number; health: Health }, liveGeneration: number): boolean {
  return c.running && c.generation > liveGeneration && c.health === "starting";
}

/**
 * The running container that outranks the live one and may be serving, waiting (up to
 * `startTimeoutMs`) for one whose health check is still starting: it turns healthy, and Traefik
 * routes to it, or unhealthy (or exits), and Traefik never did. Undefined when none may serve.
 */
async function outranking(deps: DeployDeps, running: ContainerDetail[], liveGeneration: number, startTimeoutMs: number): Promise<ContainerDetail | undefined> {
  const view = (c: ContainerDetail, health: Health) => ({ running: c.running, generation: generationOf(c), health });
  const found = running.find((c) => outranksLive(view(c, c.health), liveGeneration));
  if (found) return found;
  const starting = running.find((c) => mayTurnServing(view(c, c.health), liveGeneration));
  if (!starting) return undefined;
  const until = deadline(startTimeoutMs, deps.clock);
  for (;;) {
    let health: Health;
    try {
      health = (await deps.engine.checkRunning(starting.id, starting.name)) as Health;
    } catch (err) {
      // It exited or turned unhealthy: Traefik does not route to it. An Engine gone again ends the reconcile.
      if (toAgentError(err).code === "ENGINE_UNAVAILABLE") throw err;
      return undefined;
    }
    if (outranksLive(view(starting, health), liveGeneration)) return starting;
    if (until.passed()) return undefined;
    await sleep(Math.min(500, until.remainingMs()));
  }
}

async function isServing(deps: DeployDeps, c: ContainerDetail): Promise<boolean> {
  try {
    const health = await deps.engine.checkRunning(c.id, c.name);
    return health === "healthy" || health === "none";
  } catch {
    return false;
  }
}

function liveFromLabels(c: ContainerDetail, deployId: string): Live {
  const l = c.labels;
  return {
    deployId,
    version: l[AGENT_LABELS.version] ?? "unknown",
    digest: l[AGENT_LABELS.digest] ?? "",
    imageId: c.image,
    slot: slotOf(c),
    generation: generationOf(c),
    since: c.startedAt || new Date().toISOString(),
  };
}

function slotOf(c: ContainerDetail): Slot {
  return c.labels[AGENT_LABELS.slot] === "green" ? "green" : "blue";
}

function generationOf(c: ContainerDetail): number {
  const g = Number(c.labels[AGENT_LABELS.generation]);
  return Number.isInteger(g) ? g : 0;
}
