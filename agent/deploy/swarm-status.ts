// What `status` shows of a Swarm app (docs/design.md#swarm-services): each of its services, at
// which digest, how many replicas, where its update stands, and the tasks that run or still stop.
import type { AppConfig } from "../config/schema.js";
import type { ServiceStatusView, TaskStatusView } from "../control/api.js";
import type { OwnedSwarm, ServiceView, TaskView } from "../docker/owned-swarm.js";
import { toAgentError } from "../errors.js";
import { serviceName } from "../labels.js";
import { ENDED_TASK_STATES } from "./swarm-services.js";

/** What the Engine showed of one service: it and its tasks, absent (undefined), or why it could not be read. */
export type ServiceLook = { service: ServiceView; tasks: TaskView[] } | undefined | { error: string };

/** The app's services for `status`: web's first, as its containers come before the roles'. */
export function statusServices(appName: string, app: AppConfig): { name: string; role?: string }[] {
  return [{ name: serviceName(appName) }, ...Object.keys(app.roles).map((role) => ({ name: serviceName(appName, role), role }))];
}

/**
 * Reads each of the app's services and its tasks, every call within `timeoutMs`. An Engine that
 * does not answer fails the whole look (status then says so once); a service that cannot be read
 * for another reason (not the agent's, an Engine no longer a manager) is shown with that reason.
 * Node hostnames are a nicety: without an answer, the node ids are shown.
 */
export async function lookServices(swarm: OwnedSwarm, appName: string, app: AppConfig, timeoutMs: number): Promise<ServiceStatusView[]> {
  const wanted = statusServices(appName, app);
  const [looks, nodes] = await Promise.all([
    Promise.all(
      wanted.map((w) =>
        swarm.look(w.name, timeoutMs).catch((err: unknown): ServiceLook => {
          const e = toAgentError(err);
          if (e.code === "ENGINE_UNAVAILABLE") throw e;
          return { error: e.message };
        }),
      ),
    ),
    swarm.nodeHostnames(timeoutMs).catch(() => new Map<string, string>()),
  ]);
  return wanted.map((w, i) => serviceStatus(w, looks[i], nodes));
}

/** One service as `status` shows it, from what the Engine showed of it. */
export function serviceStatus(which: { name: string; role?: string }, look: ServiceLook, nodes: ReadonlyMap<string, string>): ServiceStatusView {
  const head = { name: which.name, ...(which.role !== undefined ? { role: which.role } : {}) };
  if (look === undefined) return { ...head, exists: false, tasks: [] };
  if ("error" in look) return { ...head, exists: true, tasks: [], error: look.error };
  const { service, tasks } = look;
  const digest = digestOf(service.image);
  return {
    ...head,
    exists: true,
    ...(digest ? { digest } : {}),
    replicas: service.replicas,
    ...(service.updateStatus ? { update: { ...service.updateStatus } } : {}),
    tasks: shownTasks(tasks).map((t) => taskStatus(t, nodes)),
  };
}

/**
 * The tasks worth showing, by slot: those Swarm wants running (whatever state they reached), and
 * those it wants stopped that have not stopped yet. The Engine keeps the ended ones as history
 * (`docker service ps` shows them); status leaves them out.
 */
export function shownTasks(tasks: readonly TaskView[]): TaskView[] {
  return tasks
    .filter((t) => t.desiredState === "running" || !ENDED_TASK_STATES.has(t.state))
    .sort((a, b) => (a.slot ?? 0) - (b.slot ?? 0) || Number(b.desiredState === "running") - Number(a.desiredState === "running") || a.id.localeCompare(b.id));
}

function taskStatus(t: TaskView, nodes: ReadonlyMap<string, string>): TaskStatusView {
  const digest = digestOf(t.image);
  const nodeName = t.nodeId ? nodes.get(t.nodeId) : undefined;
  return {
    ...(t.slot !== undefined ? { slot: t.slot } : {}),
    state: t.state,
    desiredState: t.desiredState,
    ...(digest ? { digest } : {}),
    ...(t.nodeId ? { node: t.nodeId } : {}),
    ...(nodeName ? { nodeName } : {}),
    ...(t.error ? { error: t.error } : {}),
  };
}

/** The digest of `repo@sha256:…`, the form every spec the agent writes has. */
function digestOf(image: string): string | undefined {
  return /@(sha256:[a-f0-9]{64})$/.exec(image)?.[1];
}
