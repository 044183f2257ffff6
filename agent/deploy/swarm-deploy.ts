// The deploy sequence of a `backend: swarm` app (docs/design.md#swarm-services), top to bottom:
// resolve → pull → [predeploy] → create (each service's new spec) → start (Swarm's update,
// followed) → [stop] → [postdeploy] → record.
// Swarm does the switch itself: it starts each new task beside an old one, sends to it once it is
// healthy, and rolls the service back when a new task fails. The agent writes the release, follows
// it to the end, puts every service back when one fails, and records the outcome in the same
// state file and history as a container app's.
import type { AppConfig } from "../config/schema.js";
import type { DeployOutcome } from "../control/api.js";
import type { OwnedSwarm, TaskView } from "../docker/owned-swarm.js";
import { AgentError, toAgentError } from "../errors.js";
import { failedAfterCommit, commitLive } from "./commit.js";
import { asAbortWhenStopping, fail, openRun, type Resolved } from "./deploy.js";
import type { OutcomeNotes } from "./notify-outcome.js";
import { emit, endStepNow, nowIso, short, step, type DeployDeps, type DeployTarget, type Run } from "./run.js";
import { pull, recordSuccess } from "./steps.js";
import { postdeploy, predeploy } from "./one-off.js";
import { allNetworks } from "../config/networks.js";
import { containersLeft, removeContainersLeft } from "./backend-move.js";
import { releaseSpecs, serviceNames, settleServices, undoWrites, writeServices } from "./swarm-services.js";

export async function swarmSequence(deps: DeployDeps, target: DeployTarget, app: AppConfig, notes: OutcomeNotes, resolved: Resolved): Promise<DeployOutcome> {
  const swarm = swarmOf(deps, target.app);
  const live = deps.store.app(target.app).live;
  const digest = resolved.digest;
  if (digest && live?.digest === digest && target.trigger !== "rollback" && (await servesAt(swarm, target.app, app, digest))) {
    if (target.onLive) await deps.store.update((s) => target.onLive?.(s, { deployId: live.deployId, digest }));
    return { deployId: live.deployId, app: target.app, outcome: "unchanged", version: target.version, digest, generation: live.generation };
  }
  const run = await openRun(deps, target, app, notes, resolved);
  const written: Run["swarm"] = { written: [] };
  run.swarm = written;
  try {
    if (resolved.error) throw resolved.error;
    await endStepNow(run, "resolve", `${short(run.digest)} → services ${serviceNames(target.app, app).join(", ")}, generation ${run.generation}`);
    await step(run, "pull", () => pull(run));
    // Migrations are forward-only: a rollback goes back to code that ran on them already. The
    // one-off runs on this host, on the app's overlay networks (attachable), as a container app's does.
    if (app.predeploy && target.trigger !== "rollback") {
      await step(run, "predeploy", async () => {
        await ensureOverlays(run, swarm);
        return predeploy(run);
      });
    }
    await step(run, "create", () => writeRelease(run, swarm));
    // From here Swarm moves the services whatever the agent does: the update is followed to its
    // end even while the agent stops (a restart that cuts it short follows it again, swarm-reconcile.ts).
    run.routed = true;
    await step(run, "start", () => followRelease(run, swarm));
    await commitLive(run);
    // An app that moved from backend: container: its containers go once Traefik routes to the services.
    const left = await containersLeft(deps, target.app);
    if (left.length > 0) await step(run, "stop", () => removeContainersLeft(deps, target.app, app, left));
    if (app.postdeploy) await step(run, "postdeploy", () => postdeploy(run));
    await step(run, "record", () => recordSuccess(run));
    run.log.info({ generation: run.generation }, "deploy succeeded");
    return { deployId: run.id, app: target.app, outcome: "succeeded", version: target.version, digest: run.digest, generation: run.generation };
  } catch (err) {
    const e = toAgentError(err);
    if (run.committed) return failedAfterCommit(run, e);
    // settleServices undid every write before it threw; a failure before it (a write the Engine
    // refused part way) leaves the writes made so far to undo here.
    if (!undone.has(run)) await undoWrites(swarm, written.written, { log: run.log, ...(deps.clock ? { clock: deps.clock } : {}) });
    run.routed = false;
    return fail(run, asAbortWhenStopping(run, e));
  }
}

/** Runs whose writes settleServices already put back. */
const undone = new WeakSet<Run>();

function swarmOf(deps: DeployDeps, app: string): OwnedSwarm {
  if (!deps.swarm) throw new AgentError("INTERNAL", `app ${app} has backend: swarm, but the daemon started without the Swarm`);
  return deps.swarm;
}

/** True when every service of the app runs `digest`, settled: a deploy of it again changes nothing. */
async function servesAt(swarm: OwnedSwarm, appName: string, app: AppConfig, digest: string): Promise<boolean> {
  for (const name of serviceNames(appName, app)) {
    const s = await swarm.inspectService(name);
    if (!s || s.image !== `${app.image}@${digest}`) return false;
    if (s.updateStatus && s.updateStatus.state !== "completed") return false;
  }
  return true;
}

/** The create step: each service's spec for the release, written with the registry's credentials, so every node can pull it. */
async function writeRelease(run: Run, swarm: OwnedSwarm): Promise<string> {
  const release = { deployId: run.id, version: run.target.version, digest: run.digest, generation: run.generation };
  const { specs, health } = await releaseSpecs(run.deps, run.target.app, run.app, release, run.imageId ?? "");
  await ensureOverlays(run, swarm);
  const auth = await run.deps.registry.engineAuth(run.app.image);
  const done = await writeServices(swarm, specs, auth, (w) => run.swarm?.written.push(w));
  return `${done.join(", ")}; ${health}`;
}

/** The app's networks, each an attachable overlay network: the services' and a release step's one-off's. */
async function ensureOverlays(run: Run, swarm: OwnedSwarm): Promise<void> {
  for (const net of allNetworks(run.app)) await swarm.ensureNetwork(net);
}

/** The start step: Swarm's update of each service, followed to its end, each task's change shown to `agentctl deploy`. */
async function followRelease(run: Run, swarm: OwnedSwarm): Promise<string> {
  const onTask = (service: string, t: TaskView) =>
    emit(run, { type: "progress", app: run.target.app, deployId: run.id, step: "start", message: taskLine(service, t), at: nowIso(run) });
  try {
    const settled = await settleServices(swarm, run.swarm?.written ?? [], { onTask, log: run.log, ...(run.deps.clock ? { clock: run.deps.clock } : {}) });
    return settled.join("; ");
  } catch (err) {
    undone.add(run);
    throw err;
  }
}

/** One task's change, as `agentctl deploy` prints it: "web task 2: running (sha256 1a2b3c4d5e6f)". */
export function taskLine(service: string, t: TaskView): string {
  const at = t.image.includes("@") ? ` (${short(t.image.slice(t.image.indexOf("@") + 1))})` : "";
  const to = t.desiredState && t.desiredState !== t.state && t.desiredState !== "running" ? `, to ${t.desiredState}` : "";
  const why = t.error ?? (t.message && t.message !== t.state ? t.message : "");
  return `${service} task ${t.slot ?? t.id.slice(0, 12)}: ${t.state}${to}${at}${why ? `: ${why}` : ""}`;
}
