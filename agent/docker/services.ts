// Swarm service, task and overlay network calls, each with the Engine deadline; a 404 on inspect is
// "absent" and on remove is done. Internal to docker/: owned-swarm.ts decides which services these
// may touch. API: https://docs.docker.com/reference/api/engine/version/v1.43/#tag/Service
import type { EngineAuth } from "../engine-auth.js";
import { statusOf, type EngineClient } from "./client.js";
import type { ServiceSpec } from "./service-spec.js";

/** Where Swarm stands in moving the service to its spec: absent on a service never updated. */
export interface UpdateStatus {
  /** "updating", "paused", "completed", "rollback_started", "rollback_paused" or "rollback_completed". */
  state: string;
  message: string;
}

/** A service as the Engine's inspect shows it. */
export interface ServiceView {
  id: string;
  name: string;
  /** The Engine's `Version.Index`: an update must name the version it replaces. */
  version: number;
  labels: Record<string, string>;
  /** The image every task of the current spec runs. */
  image: string;
  replicas: number;
  hasHealthcheck: boolean;
  /** Whether the service had a spec before this one: false on a service never updated. */
  updated: boolean;
  updateStatus: UpdateStatus | undefined;
}

/** One task of a service (one replica's attempt to run). */
export interface TaskView {
  id: string;
  slot: number | undefined;
  /** What Swarm wants of the task: running, shutdown, … */
  desiredState: string;
  /** Where it is: new, pending, preparing, starting, running, failed, rejected, shutdown, … */
  state: string;
  image: string;
  message: string;
  error: string | undefined;
  /** The node Swarm placed it on; empty while it waits for one. */
  nodeId: string;
}

interface EngineService {
  ID: string;
  Version?: { Index?: number };
  Spec?: {
    Name?: string;
    Labels?: Record<string, string> | null;
    TaskTemplate?: { ContainerSpec?: { Image?: string; Healthcheck?: { Test?: string[] | null } } };
    Mode?: { Replicated?: { Replicas?: number } };
  };
  PreviousSpec?: object | null;
  UpdateStatus?: { State?: string; Message?: string } | null;
}

interface EngineTask {
  ID: string;
  Slot?: number;
  NodeID?: string;
  DesiredState?: string;
  Spec?: { ContainerSpec?: { Image?: string } };
  Status?: { State?: string; Message?: string; Err?: string };
}

/**
 * The X-Registry-Auth value: the credentials as JSON in Go's base64.URLEncoding, which pads with
 * "=" (docker/api/types/registry EncodeAuthConfig). Node's "base64url" leaves the padding out, and
 * the Engine then fails to decode the credentials and pulls without them, silently: the tasks end
 * "No such image".
 */
export function registryAuthHeader(auth: EngineAuth): string {
  return Buffer.from(JSON.stringify(auth)).toString("base64").replace(/\+/g, "-").replace(/\//g, "_");
}

export async function inspectService(c: EngineClient, name: string, timeoutMs?: number): Promise<ServiceView | undefined> {
  try {
    const s = (await c.call(`inspect of service ${name}`, (abortSignal) => c.docker.getService(name).inspect({ abortSignal }), timeoutMs)) as EngineService;
    return serviceView(s);
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

/**
 * POST /services/create, or /services/{id}/update?version=…. The spec goes as the body alone
 * (`_body`), the version as the query alone (`_query`), and the credentials as a ready header
 * (`authconfig.key`): docker-modem would otherwise put every spec field in the query string, and
 * dockerode's one-argument createService sends the whole spec as X-Registry-Auth.
 */
export async function writeService(c: EngineClient, spec: ServiceSpec, target: { id: string; version: number } | undefined, auth?: EngineAuth): Promise<void> {
  const what = target ? `update of service ${spec.Name}` : `create of service ${spec.Name}`;
  await c.call(what, (abortSignal) =>
    dial(c, {
      path: target ? `/services/${encodeURIComponent(target.id)}/update?` : "/services/create?",
      method: "POST",
      options: { _query: target ? { version: target.version } : {}, _body: spec },
      ...(auth ? { authconfig: { key: registryAuthHeader(auth) } } : {}),
      abortSignal,
      statusCodes: { 200: true, 201: true, 400: "bad parameter", 403: "not a manager", 404: "no such service", 409: "name conflicts", 500: "server error", 503: "not part of a swarm" },
    }),
  );
}

/**
 * Swarm's own one-step rollback (`docker service rollback`): the service goes back to its previous
 * spec under its RollbackConfig. The Engine takes it as an update of the current spec with
 * `rollback=previous` (moby api/server/router/swarm/cluster_routes.go), so the spec read at
 * `version` is sent back as it is. Only for undoing a deploy the agent itself began: a rollback a
 * person asks for is a new update to the earlier release (deploy/swarm-deploy.ts).
 */
export async function rollbackService(c: EngineClient, id: string): Promise<void> {
  const raw = (await c.call(`inspect of service ${id}`, (abortSignal) => c.docker.getService(id).inspect({ abortSignal }))) as { Version?: { Index?: number }; Spec?: object };
  await c.call(`rollback of service ${id}`, (abortSignal) =>
    dial(c, {
      path: `/services/${encodeURIComponent(id)}/update?`,
      method: "POST",
      options: { _query: { version: raw.Version?.Index ?? 0, rollback: "previous" }, _body: raw.Spec ?? {} },
      abortSignal,
      statusCodes: { 200: true, 400: "bad parameter", 404: "no such service", 500: "server error", 503: "not part of a swarm" },
    }),
  );
}

export async function removeService(c: EngineClient, id: string): Promise<void> {
  try {
    await c.call(`removal of service ${id}`, (abortSignal) => c.docker.getService(id).remove({ abortSignal }));
  } catch (err) {
    if (statusOf(err) !== 404) throw err;
  }
}

export async function listTasks(c: EngineClient, serviceId: string, timeoutMs?: number): Promise<TaskView[]> {
  const list = (await c.call(`list of tasks of service ${serviceId}`, (abortSignal) => c.docker.listTasks({ filters: { service: [serviceId] }, abortSignal }), timeoutMs)) as EngineTask[];
  return list.map((t) => ({
    id: t.ID,
    slot: t.Slot,
    desiredState: t.DesiredState ?? "",
    state: t.Status?.State ?? "",
    image: t.Spec?.ContainerSpec?.Image ?? "",
    message: t.Status?.Message ?? "",
    error: t.Status?.Err || undefined,
    nodeId: t.NodeID ?? "",
  }));
}

/** The swarm's nodes by id, with their hostnames (GET /nodes, a manager's call). */
export async function nodeHostnames(c: EngineClient, timeoutMs?: number): Promise<Map<string, string>> {
  const nodes = (await c.call("list of nodes", (abortSignal) => c.docker.listNodes({ abortSignal }), timeoutMs)) as { ID: string; Description?: { Hostname?: string } }[];
  return new Map(nodes.flatMap((n) => (n.Description?.Hostname ? [[n.ID, n.Description.Hostname] as const] : [])));
}

/** The network of that name, if any: its driver and labels. The Engine's name filter matches parts of names. */
export async function findNetwork(c: EngineClient, name: string): Promise<{ id: string; driver: string; labels: Record<string, string> } | undefined> {
  const nets = await c.call(`list of networks named ${name}`, (abortSignal) => c.docker.listNetworks({ filters: { name: [name] }, abortSignal }));
  const n = nets.find((x) => x.Name === name);
  return n ? { id: n.Id, driver: n.Driver, labels: n.Labels ?? {} } : undefined;
}

/** Creates an attachable overlay network (attachable: a one-off container can join it too); false when one of that name was made meanwhile (409). */
export async function createOverlay(c: EngineClient, name: string, labels: Record<string, string>): Promise<boolean> {
  try {
    await c.call(`create of network ${name}`, (abortSignal) => c.docker.createNetwork({ Name: name, Driver: "overlay", Attachable: true, Labels: labels, CheckDuplicate: true, abortSignal }));
    return true;
  } catch (err) {
    if (statusOf(err) !== 409) throw err;
    return false;
  }
}

interface DialOptions {
  path: string;
  method: "POST";
  options: { _query: object; _body: object };
  authconfig?: { key: string };
  abortSignal: AbortSignal;
  statusCodes: Record<number, true | string>;
}

/** docker-modem's dial, typed: @types/dockerode leaves the modem `any`. */
function dial(c: EngineClient, opts: DialOptions): Promise<unknown> {
  const modem = c.docker.modem as { dial(o: DialOptions, cb: (err: unknown, data: unknown) => void): void };
  return new Promise((resolve, reject) => modem.dial(opts, (err, data) => (err ? reject(err) : resolve(data))));
}

function serviceView(s: EngineService): ServiceView {
  // The Engine writes the key as Go's field name, "Healthcheck" (the API reference spells it
  // HealthCheck; Go's decoder takes either on the way in).
  const test = s.Spec?.TaskTemplate?.ContainerSpec?.Healthcheck?.Test ?? [];
  const u = s.UpdateStatus;
  return {
    id: s.ID,
    name: s.Spec?.Name ?? s.ID,
    version: s.Version?.Index ?? 0,
    labels: s.Spec?.Labels ?? {},
    image: s.Spec?.TaskTemplate?.ContainerSpec?.Image ?? "",
    replicas: s.Spec?.Mode?.Replicated?.Replicas ?? 0,
    // An empty Test keeps the image's HEALTHCHECK, which the spec cannot show; ["NONE"] switches it off.
    hasHealthcheck: test.length > 0 && test[0] !== "NONE",
    updated: s.PreviousSpec != null,
    updateStatus: u?.State ? { state: u.State, message: u.Message ?? "" } : undefined,
  };
}
