// Following a service until Swarm is done moving it to its spec: the service's UpdateStatus, and
// each of its tasks' changes for progress. Internal to docker/: owned-swarm.ts checks ownership first.
import { deadline as deadlineOf, type MonotonicClock } from "../clock.js";
import { AgentError } from "../errors.js";
import { sleep } from "../sleep.js";
import type { EngineClient } from "./client.js";
import { inspectService, listTasks, type ServiceView, type TaskView } from "./services.js";

/** How often the service and its tasks are read while following it. */
export const FOLLOW_POLL_MS = 500;

/**
 * The UpdateStatus states at which Swarm stops moving the service by itself (swarmkit
 * manager/orchestrator/update/updater.go): `completed` and `rollback_completed` are ends,
 * `paused` and `rollback_paused` wait for a person (FailureAction pause; a rollback that fails).
 */
const SETTLED = ["completed", "paused", "rollback_completed", "rollback_paused"] as const;

/** How a follow ended: a settled UpdateStatus, `running` (a first create whose tasks all run), or `timed_out`. */
export type FollowState = (typeof SETTLED)[number] | "running" | "timed_out";

export interface FollowOptions {
  /** How long to follow before resolving `timed_out`. */
  deadlineMs: number;
  /** Called with a task each time its desired state, state, image, message or error changes. */
  onTask?: (task: TaskView) => void;
  pollMs?: number;
  signal?: AbortSignal;
  /** The clock the deadline runs on (agent/clock.ts): a wall clock that jumps must not end it. */
  clock?: MonotonicClock;
}

export interface FollowResult {
  state: FollowState;
  message: string;
  service: ServiceView;
  tasks: TaskView[];
}

/**
 * Reads the service and its tasks every `pollMs` until it settles or `deadlineMs` passes. A
 * service that was never updated has no UpdateStatus: it is settled once `replicas` tasks of its
 * spec's image run. A task with a health check is reported running only once it is healthy (the
 * executor waits for the first healthy status before it reports the start, moby
 * daemon/cluster/executor/container/controller.go), so no container needs inspecting, on any node.
 * An updated service whose UpdateStatus is absent has an update Swarm has not started yet (the
 * Engine clears it with each new spec): that is followed on, never taken for settled.
 */
export async function followUpdate(c: EngineClient, id: string, opts: FollowOptions): Promise<FollowResult> {
  const seen = new Map<string, string>();
  const until = deadlineOf(opts.deadlineMs, opts.clock);
  for (;;) {
    const service = await inspectService(c, id);
    if (!service) throw new AgentError("INTERNAL", `service ${id} was removed while the agent followed its update`);
    const tasks = await listTasks(c, service.id);
    for (const t of tasks) {
      const key = JSON.stringify([t.desiredState, t.state, t.image, t.message, t.error]);
      if (seen.get(t.id) !== key) {
        seen.set(t.id, key);
        opts.onTask?.(t);
      }
    }
    const settled = settledState(service, tasks);
    if (settled) return { ...settled, service, tasks };
    if (until.passed() || opts.signal?.aborted) return timedOut(service, tasks, opts);
    await sleep(Math.min(opts.pollMs ?? FOLLOW_POLL_MS, until.remainingMs()), opts.signal);
  }
}

function timedOut(service: ServiceView, tasks: TaskView[], opts: FollowOptions): FollowResult {
  const u = service.updateStatus;
  const where = u ? `its update is ${u.state}${u.message ? ` (${u.message})` : ""}` : `${runningOf(service, tasks)} of ${service.replicas} tasks of ${service.image} run`;
  const why = opts.signal?.aborted ? "the wait was stopped" : `not settled after ${opts.deadlineMs / 1000}s`;
  return { state: "timed_out", message: `service ${service.name} ${why}: ${where}`, service, tasks };
}

function settledState(service: ServiceView, tasks: TaskView[]): { state: FollowState; message: string } | undefined {
  const u = service.updateStatus;
  if (u) return (SETTLED as readonly string[]).includes(u.state) ? { state: u.state as FollowState, message: u.message } : undefined;
  if (service.updated) return undefined;
  const running = runningOf(service, tasks);
  if (running < service.replicas) return undefined;
  const healthy = service.hasHealthcheck ? " and healthy" : "";
  return { state: "running", message: `${running} of ${service.replicas} tasks of ${service.image} run${healthy}` };
}

function runningOf(service: ServiceView, tasks: TaskView[]): number {
  return tasks.filter((t) => t.desiredState === "running" && t.state === "running" && t.image === service.image).length;
}
