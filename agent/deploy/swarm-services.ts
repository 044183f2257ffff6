// A Swarm app's services in one release (docs/design.md#swarm-services): their specs, built from
// the release's image on this host; written to the Swarm; followed until Swarm settles each; and
// undone, all of them, when one fails. The deploy (swarm-deploy.ts) and reconcile
// (swarm-reconcile.ts) both go through here.
import type { MonotonicClock } from "../clock.js";
import type { AppConfig } from "../config/schema.js";
import type { FollowResult, OwnedSwarm, TaskView } from "../docker/owned-swarm.js";
import type { ServiceRelease, ServiceSpec } from "../docker/service-spec.js";
import type { EngineAuth } from "../engine-auth.js";
import { AgentError, toAgentError, type ErrorCode } from "../errors.js";
import { serviceName } from "../labels.js";
import type { Logger } from "../log.js";
import { NS_PER_MS } from "../docker/healthcheck.js";
import type { DeployDeps } from "./run.js";
import { roleServiceSpec, webServiceSpec } from "./service-plan.js";
import { readEnvFile } from "./steps.js";

/** One service a deploy wrote, and how to undo it. */
export interface ServiceWrite {
  name: string;
  /** True when the deploy made it (undone by removing it); false when it updated it (undone by Swarm's rollback to the spec before). */
  created: boolean;
  /** The image its new tasks run: `repo@sha256:…`. */
  image: string;
  /** How long its update may take before the agent gives up on it. */
  followMs: number;
}

/** Time for nodes other than this one to pull the release before its first task can start. */
const PULL_ALLOWANCE_MS = 60_000;
/** How long an undo's rollback is followed before the agent leaves it to Swarm and says so. */
const UNDO_FOLLOW_MS = 120_000;

/** The app's services, roles first and web last: the order they are written in, as a container app's roles start before web. */
export function serviceNames(appName: string, app: AppConfig): string[] {
  return [...Object.keys(app.roles).map((r) => serviceName(appName, r)), serviceName(appName)];
}

/**
 * The specs of every service of the release. The health check is chosen exactly as for a
 * container (docker/health.ts), from the image as this host has it, so the image must be here:
 * the deploy pulls it first, as for a container app.
 */
export async function releaseSpecs(
  deps: Pick<DeployDeps, "engine">,
  appName: string,
  app: AppConfig,
  release: ServiceRelease,
  imageId: string,
): Promise<{ specs: ServiceSpec[]; health: string }> {
  const image = await deps.engine.inspectImage(imageId);
  if (!image) throw new AgentError("PULL_FAILED", `image ${imageId} is not on this host: the services' health check is chosen from it`);
  const hc = await deps.engine.chooseHealthcheck(appName, image, {
    path: app.health.path,
    port: app.port,
    intervalMs: app.health.interval,
    startTimeoutMs: app.health.startTimeout,
    command: app.health.command,
  });
  const fileEnv = app.envFile ? await readEnvFile(appName, app.envFile) : {};
  const roles = Object.entries(app.roles).map(([role, cfg]) => roleServiceSpec(appName, app, role, cfg, release, fileEnv));
  return { specs: [...roles, webServiceSpec(appName, app, release, hc.healthcheck, fileEnv)], health: `health check from ${hc.source}: ${hc.test.join(" ")}` };
}

/**
 * How long to follow a service's update: each task in turn, one at a time, may take the health
 * check's start period and then the monitor, plus a minute for the nodes to pull the image.
 */
export function followMs(spec: ServiceSpec): number {
  const startMs = (spec.TaskTemplate.ContainerSpec.HealthCheck.StartPeriod ?? 0) / NS_PER_MS;
  const monitor = spec.UpdateConfig.Monitor / NS_PER_MS;
  return spec.Mode.Replicated.Replicas * (startMs + monitor) + PULL_ALLOWANCE_MS;
}

/**
 * Writes each spec in order: a missing service is created, an existing one updated at the version
 * just read. Each write is reported once the Engine took it, so a failure part way is undone.
 */
export async function writeServices(swarm: OwnedSwarm, specs: ServiceSpec[], auth: EngineAuth | undefined, onWrite: (w: ServiceWrite) => void): Promise<string[]> {
  const done: string[] = [];
  for (const spec of specs) {
    const found = await swarm.inspectService(spec.Name);
    if (found) await swarm.updateService(spec.Name, found.version, spec, auth);
    else await swarm.createService(spec, auth);
    onWrite({ name: spec.Name, created: !found, image: spec.TaskTemplate.ContainerSpec.Image, followMs: followMs(spec) });
    done.push(`${found ? "updated" : "created"} service ${spec.Name}`);
  }
  return done;
}

export interface SettleOptions {
  onTask?: (service: string, task: TaskView) => void;
  clock?: MonotonicClock;
  log: Logger;
}

/**
 * Follows every written service until Swarm settles it. When all complete, says how each ended.
 * Otherwise every write is undone (undoWrites) and the first failure is thrown, named by its
 * service, with Swarm's own words and the failing task's error.
 */
export async function settleServices(swarm: OwnedSwarm, writes: ServiceWrite[], opts: SettleOptions): Promise<string[]> {
  const results = await Promise.all(
    writes.map((w) =>
      swarm.followUpdate(w.name, {
        deadlineMs: w.followMs,
        ...(opts.onTask ? { onTask: (t: TaskView) => opts.onTask?.(w.name, t) } : {}),
        ...(opts.clock ? { clock: opts.clock } : {}),
      }),
    ),
  );
  const failed = writes.findIndex((_, i) => !settledWell(results[i]!));
  if (failed < 0) return results.map((r, i) => `${writes[i]!.name}: ${r.message || r.state}`);
  const error = failureOf(writes[failed]!, results[failed]!);
  await undoWrites(swarm, writes, opts, results);
  throw error;
}

function settledWell(r: FollowResult): boolean {
  return r.state === "completed" || r.state === "running";
}

/**
 * Puts each written service back: one the deploy made is removed; one it updated goes back to its
 * spec before through Swarm's rollback, unless Swarm rolled it back already. A rollback that
 * itself failed (`rollback_paused`) is left as Swarm holds it, and logged: only a person can tell
 * what to do with a service that can run neither release. Never throws: what cannot be undone is logged.
 */
export async function undoWrites(swarm: OwnedSwarm, writes: ServiceWrite[], opts: SettleOptions, results: (FollowResult | undefined)[] = []): Promise<void> {
  await Promise.all(
    writes.map(async (w, i) => {
      const r = results[i];
      try {
        if (w.created) return await swarm.removeService(w.name);
        if (r?.state === "rollback_completed") return;
        if (r?.state === "rollback_paused") {
          opts.log.error({ service: w.name, message: r.message }, "Swarm's rollback of the service failed and is paused; it needs a person (docker service ps, docker service rollback)");
          return;
        }
        await swarm.rollbackService(w.name);
        const back = await swarm.followUpdate(w.name, { deadlineMs: UNDO_FOLLOW_MS, ...(opts.clock ? { clock: opts.clock } : {}) });
        if (back.state !== "rollback_completed") opts.log.error({ service: w.name, state: back.state, message: back.message }, "the service's rollback did not complete; Swarm goes on with it");
      } catch (err) {
        opts.log.error({ service: w.name, err: toAgentError(err).message }, "could not put the service back after the failed deploy");
      }
    }),
  );
}

/** Task states at which a task has ended without running on (swarmkit api/types.proto TaskState). */
export const ENDED_TASK_STATES = new Set(["failed", "rejected", "shutdown", "complete", "orphaned", "remove"]);
/** A node could not pull the image: the registry's or the credentials' fault, tried again by the next polls. */
const PULL_RE = /no such image|pull access denied|manifest unknown|unauthorized/i;

/** The error a service's failed update is reported as: whose fault it was (deploy/faults.ts) and what Swarm and the task said. */
export function failureOf(w: ServiceWrite, r: FollowResult): AgentError {
  const task = r.tasks.find((t) => t.image === w.image && ENDED_TASK_STATES.has(t.state) && (t.error || t.message)) ?? r.tasks.find((t) => t.image === w.image && t.state === "pending");
  const said = task ? `; task ${task.slot ?? task.id.slice(0, 12)}: ${task.state}, ${task.error ?? task.message}` : "";
  const code = faultCode(task);
  const what = (() => {
    switch (r.state) {
      case "rollback_completed":
        return `Swarm rolled service ${w.name} back to the release before (${r.message})`;
      case "rollback_paused":
        return `Swarm rolled service ${w.name} back, and that rollback failed and is paused (${r.message})`;
      case "paused":
        return `Swarm paused the update of service ${w.name} (${r.message})`;
      default:
        return r.message;
    }
  })();
  const hint = code === "CONFIG_INVALID" ? "check the app's placement against `docker node ls`; a task Swarm cannot place waits for a node that fits" : `docker service ps ${w.name} --no-trunc shows each task's error`;
  return new AgentError(code, `${what}${said}`, { hint });
}

function faultCode(task: TaskView | undefined): ErrorCode {
  if (task?.state === "pending") return "CONFIG_INVALID";
  const words = `${task?.error ?? ""} ${task?.message ?? ""}`;
  if (task?.state === "rejected" && PULL_RE.test(words)) return "PULL_FAILED";
  // Swarm's executor kills a task whose container turned unhealthy, so that one also ends with a
  // non-zero exit ("task: non-zero exit (143): dockerexec: unhealthy container").
  if (/unhealthy/i.test(words)) return "GREEN_UNHEALTHY";
  return /non-zero exit|exited/i.test(words) ? "GREEN_EXITED" : "GREEN_UNHEALTHY";
}
