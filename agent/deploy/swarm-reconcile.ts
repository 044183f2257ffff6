// On start (and once the Engine is back), a `backend: swarm` app's truth rebuilt from its services
// and the state file (docs/design.md#swarm-services): a deploy the agent stopped in is followed to
// its end, since Swarm went on with it; a service of the live release that is missing is made again
// from that release. Only services this agent made are read or touched (docker/owned-swarm.ts).
import type { AppConfig } from "../config/schema.js";
import { monitorMs } from "./service-plan.js";
import { AgentError, toAgentError } from "../errors.js";
import { AGENT_LABELS } from "../labels.js";
import type { DeployRecord, Live } from "../state/schema.js";
import { addSkip, ensureApp, finishDeploy, hasServed, stickRollback } from "../state/transitions.js";
import { skipsRelease } from "./faults.js";
import { postdeployAfterRestart } from "./postdeploy-restart.js";
import { promote } from "./promote.js";
import type { ReconcileReport } from "./reconcile.js";
import type { DeployDeps } from "./run.js";
import { releaseSpecs, serviceNames, settleServices, undoWrites, writeServices, type ServiceWrite } from "./swarm-services.js";
import type { OwnedSwarm } from "../docker/owned-swarm.js";
import { containersLeft, removeContainersLeft } from "./backend-move.js";

/** Time for nodes to pull the release, on top of each task's start and monitor (as swarm-services.ts followMs). */
const PULL_ALLOWANCE_MS = 60_000;

export async function reconcileSwarmApp(deps: DeployDeps, appName: string, app: AppConfig): Promise<ReconcileReport> {
  const swarm = deps.swarm;
  if (!swarm) throw new AgentError("INTERNAL", `app ${appName} has backend: swarm, but the daemon started without the Swarm`);
  const log = deps.log.child({ app: appName, step: "reconcile" });
  const actions: string[] = [];
  const note = (msg: string) => {
    actions.push(msg);
    log.warn(msg);
  };
  const names = serviceNames(appName, app);
  for (const record of deps.store.app(appName).history.filter((r) => r.outcome === "running")) {
    note(await settleOpen(deps, swarm, appName, app, record));
  }
  const live = deps.store.app(appName).live;
  if (live) {
    const missing: string[] = [];
    for (const name of names) if (!(await swarm.inspectService(name))) missing.push(name);
    if (missing.length > 0) note(await recreate(deps, swarm, appName, app, live, missing));
  }
  const now = deps.store.app(appName).live;
  return { app: appName, actions, ...(now ? { serving: `services ${names.join(", ")} at ${now.version} (${now.digest.slice(7, 19)})` } : {}) };
}

/**
 * A deploy the agent stopped in. Before it wrote a service nothing changed, and it was aborted.
 * Once it had, Swarm went on with the update: it is followed to its end and recorded as the deploy
 * would have recorded it (live; or failed, its digest skipped when the release was at fault, and
 * every service put back). A create step cut off part way is undone, and aborted.
 */
async function settleOpen(deps: DeployDeps, swarm: OwnedSwarm, appName: string, app: AppConfig, record: DeployRecord): Promise<string> {
  const step = record.steps.at(-1)?.name ?? "resolve";
  const names = serviceNames(appName, app);
  const writes: ServiceWrite[] = [];
  for (const name of names) {
    const s = await swarm.inspectService(name);
    // A service never updated before was made by this deploy.
    if (s?.labels[AGENT_LABELS.deployId] === record.id) writes.push({ name, created: !s.updated, image: s.image, followMs: followMsOf(app) });
  }
  const opts = { log: deps.log.child({ app: appName, deployId: record.id, step: "reconcile" }), ...(deps.clock ? { clock: deps.clock } : {}) };
  const cutShort = step === "create" && !record.steps.at(-1)?.endedAt && writes.length < names.length;
  if (writes.length === 0 || cutShort) {
    await undoWrites(swarm, writes, opts);
    const what = writes.length === 0 ? "before it changed any service" : `part way through writing the services (${writes.map((w) => w.name).join(", ")} put back)`;
    await close(deps, appName, record, "aborted", new AgentError("DEPLOY_ABORTED", `the agent stopped during step ${step}, ${what}; the previous release kept serving`));
    return `deploy ${record.id} was in step ${step} when the agent stopped, ${what}; it was aborted`;
  }
  try {
    await settleServices(swarm, writes, opts);
  } catch (err) {
    const e = toAgentError(err);
    await close(deps, appName, record, "failed", e);
    return `deploy ${record.id} was in step ${step} when the agent stopped; Swarm went on with it, and it failed: ${e.message}`;
  }
  const at = new Date().toISOString();
  const image = await deps.engine.inspectImage(`${app.image}@${record.digest}`);
  const live: Live = { deployId: record.id, version: record.version, digest: record.digest ?? "", imageId: image?.id ?? "", slot: "blue", generation: record.generation ?? 0, since: at };
  await deps.store.update((s) => {
    if (record.trigger === "rollback") stickRollback(s, appName, { version: live.version, digest: live.digest, deployId: record.id }, at, record.previous);
    ensureApp(s, appName).live = live;
  });
  const hook = await postdeployAfterRestart(deps, appName, app, record, live);
  await promote(deps, appName, app, { live, indexDigest: record.indexDigest, at });
  return `deploy ${record.id} was in step ${step} when the agent stopped; Swarm went on with it, it was followed to its end, and it is live${hook ? ` (postdeploy: ${hook})` : ""}`;
}

async function close(deps: DeployDeps, appName: string, record: DeployRecord, outcome: "failed" | "aborted", err: AgentError): Promise<void> {
  const at = new Date().toISOString();
  await deps.store.update((s) => {
    finishDeploy(s, appName, record.id, { outcome, error: err.toJSON(), endedAt: at });
    if (outcome === "failed" && skipsRelease(err.code) && record.digest && !hasServed(s.apps[appName], record.digest)) {
      addSkip(s, appName, { digest: record.digest, version: record.version, reason: "failed", deployId: record.id, at });
    }
  });
}

/** The live release's missing services, made again from it (its image pulled again if this host no longer has it), and followed until they run. */
async function recreate(deps: DeployDeps, swarm: OwnedSwarm, appName: string, app: AppConfig, live: Live, missing: string[]): Promise<string> {
  const ref = `${app.image}@${live.digest}`;
  try {
    const auth = await deps.registry.engineAuth(app.image);
    const image = (await deps.engine.inspectImage(ref)) ?? (live.imageId ? await deps.engine.inspectImage(live.imageId) : undefined) ?? (await deps.engine.pullImage(ref, { auth }));
    const release = { deployId: live.deployId, version: live.version, digest: live.digest, generation: live.generation };
    const { specs } = await releaseSpecs(deps, appName, app, release, image.id);
    const wanted = specs.filter((s) => missing.includes(s.Name));
    for (const net of new Set(wanted.flatMap((s) => s.TaskTemplate.Networks.map((n) => n.Target)))) await swarm.ensureNetwork(net);
    const writes: ServiceWrite[] = [];
    await writeServices(swarm, wanted, auth, (w) => writes.push(w));
    await settleServices(swarm, writes, { log: deps.log.child({ app: appName, step: "reconcile" }), ...(deps.clock ? { clock: deps.clock } : {}) });
    // An app that moved from backend: container keeps serving from its containers until Traefik lists the services.
    const left = await containersLeft(deps, appName);
    const moved = left.length > 0 ? `; ${await removeContainersLeft(deps, appName, app, left)}` : "";
    return `service ${missing.join(", ")} of the live release ${live.version} was missing; it was made again and runs${moved}`;
  } catch (err) {
    return `service ${missing.join(", ")} of the live release ${live.version} is missing and could not be made again: ${toAgentError(err).message}; agentctl deploy makes it again, as does the agent's next start`;
  }
}

/** How long an update found running is followed: each task in turn its start and monitor, plus the nodes' pull. */
function followMsOf(app: AppConfig): number {
  return app.replicas * (app.health.startTimeout + monitorMs(app.health)) + PULL_ALLOWANCE_MS;
}
