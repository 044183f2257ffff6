// What Traefik's Swarm provider routes to, and what a service's virtual IP balances across, from
// the Engine's services and tasks (docs/design.md#the-swarm-provider). Pure: list results in,
// tables out. Traefik v3 pkg/provider/docker/pswarm.go `listServices` and `parseService`: a service
// labelled `lbswarm` becomes one server, its virtual IP on each swarm network, with the service's
// own labels; Traefik never looks at its tasks. The health and status filters of the docker
// provider do not apply (a service has neither), so the service is listed whatever its tasks do.
// Then the docker provider's rules apply as for containers (traefik-routing.ts).
// Not modelled: services without lbswarm (Traefik lists their tasks itself), dnsrr endpoints
// (Traefik falls back to listing tasks too), global services, constraints.
import { buildRoutingTable, parseBool, routeRequest, type ContainerInspectLike, type Dropped, type RoutingOptions, type RoutingTable } from "./traefik-routing.js";

/** The part of `GET /services` the Swarm provider reads; dockerode's `Service` fits it. */
export interface ServiceLike {
  ID: string;
  Spec?: { Name?: string; Labels?: Record<string, string> | null; EndpointSpec?: { Mode?: string } | null };
  Endpoint?: { VirtualIPs?: { NetworkID?: string; Addr?: string }[] | null };
}

/** The part of `GET /networks?filters={"scope":["swarm"]}` it reads. */
export interface NetworkLike {
  Id: string;
  Name: string;
}

/** The part of `GET /tasks` the virtual IP's membership follows. */
export interface TaskLike {
  ID: string;
  ServiceID: string;
  Slot?: number;
  DesiredState?: string;
  Status?: { State?: string; ContainerStatus?: { ContainerID?: string } | null };
  Spec?: { ContainerSpec?: { Image?: string } };
}

export interface SwarmRoutingTable extends RoutingTable {
  /** Virtual IP (address without prefix length) → the service it belongs to. */
  vips: Map<string, { serviceId: string; service: string }>;
}

/**
 * The configuration Traefik's Swarm provider builds at one refresh: each lbswarm service as one
 * container-like entry whose networks are its virtual IPs, then the docker provider's rules.
 */
export function buildSwarmRoutingTable(services: readonly ServiceLike[], networks: readonly NetworkLike[], options: RoutingOptions = {}): SwarmRoutingTable {
  const names = new Map(networks.map((n) => [n.Id, n.Name]));
  const entries: ContainerInspectLike[] = [];
  const dropped: Dropped[] = [];
  const vips = new Map<string, { serviceId: string; service: string }>();
  for (const s of services) {
    const name = s.Spec?.Name ?? s.ID;
    const labels = s.Spec?.Labels ?? {};
    let conf: ProviderLabels;
    try {
      conf = providerLabels(labels, options.network);
    } catch (err) {
      dropped.push({ kind: "container", name, reason: (err as Error).message });
      continue;
    }
    if (!conf.lbswarm) {
      dropped.push({ kind: "container", name, reason: "not modelled: without lbswarm Traefik lists the service's tasks itself" });
      continue;
    }
    if (s.Spec?.EndpointSpec?.Mode === "dnsrr") {
      dropped.push({ kind: "container", name, reason: "not modelled: endpoint mode dnsrr (Traefik ignores lbswarm and lists the tasks)" });
      continue;
    }
    const addrs: Record<string, { IPAddress: string }> = {};
    for (const vip of s.Endpoint?.VirtualIPs ?? []) {
      const network = names.get(vip.NetworkID ?? "");
      const addr = (vip.Addr ?? "").split("/")[0] ?? "";
      // Traefik skips a virtual IP on a network missing from its list of swarm-scoped networks.
      if (network === undefined || addr === "") continue;
      addrs[network] = { IPAddress: addr };
      vips.set(addr, { serviceId: s.ID, service: name });
    }
    if (Object.keys(addrs).length === 0 && options.allowEmptyServices !== true) {
      dropped.push({ kind: "container", name, reason: "no virtual IP on a swarm network (not listed)" });
      continue;
    }
    entries.push({
      Id: s.ID,
      Name: name,
      // The provider's data for a service has no status and no health, which its filters pass.
      State: { Status: "running" },
      Config: { Labels: conf.labels, ExposedPorts: {} },
      NetworkSettings: { Networks: addrs },
    });
  }
  const table = buildRoutingTable(entries, options);
  return { ...table, dropped: [...dropped, ...table.dropped], vips };
}

interface ProviderLabels {
  lbswarm: boolean;
  /** The labels traefik-routing.ts reads: the dynamic configuration, traefik.enable, and the network as `traefik.docker.network`. */
  labels: Record<string, string>;
}

/**
 * The Swarm provider's own labels (v3 pkg/provider/docker/shared_labels.go `extractSwarmLabels`):
 * `traefik.docker.*` or, from v3.3, `traefik.swarm.*`, never both; `lbswarm` and `network` from
 * whichever is there, the network falling back to the provider's.
 */
function providerLabels(labels: Record<string, string>, providerNetwork: string | undefined): ProviderLabels {
  const own = (prefix: string): Record<string, string> | undefined => {
    const found = Object.entries(labels).filter(([k]) => k.toLowerCase().startsWith(prefix));
    return found.length === 0 ? undefined : Object.fromEntries(found.map(([k, v]) => [k.slice(prefix.length).toLowerCase(), v]));
  };
  const docker = own("traefik.docker.");
  const swarm = own("traefik.swarm.");
  if (docker !== undefined && swarm !== undefined) throw new Error("decoding Swarm labels: both Docker and Swarm labels are defined");
  const conf = swarm ?? docker ?? {};
  const prefix = swarm === undefined ? "traefik.docker." : "traefik.swarm.";
  const lbswarm = parseBool(`${prefix}lbswarm`, conf.lbswarm) ?? false;
  const rest = Object.fromEntries(Object.entries(labels).filter(([k]) => !/^traefik\.(docker|swarm)\./i.test(k)));
  const network = conf.network ?? providerNetwork;
  return { lbswarm, labels: network === undefined ? rest : { ...rest, "traefik.docker.network": network } };
}

/** One task behind a virtual IP, and where the model reaches its container. */
export interface VipTask {
  /** Swarm's name of the task's container without its id: `<service>.<slot>`. */
  name: string;
  taskId: string;
  containerId: string;
  /** The image of the task's spec, `<repo>@sha256:…` for the agent's services. */
  image: string;
  /** The container's address the model connects to (on docker_gwbridge), or undefined when unknown. */
  address: string | undefined;
}

/**
 * The tasks each service's virtual IP balances across: desired and reported running, and not
 * unhealthy. The executor reports a task with a health check running only once it is healthy,
 * and adds it to the virtual IP then; it takes a task out when its container turns unhealthy, and
 * when the task is to stop, two seconds before it signals the container (moby
 * daemon/cluster/executor/container/controller.go: `Shutdown` calls `deactivateServiceBinding`,
 * then sleeps `defaultGossipConvergeDelay`, then stops). So desired state running is the test.
 * `addresses` maps a container id to its docker_gwbridge address, `unhealthy` holds the ids of
 * containers whose health is unhealthy.
 */
export function vipTasks(
  tasks: readonly TaskLike[],
  serviceNames: ReadonlyMap<string, string>,
  addresses: ReadonlyMap<string, string>,
  unhealthy: ReadonlySet<string> = new Set(),
): Map<string, VipTask[]> {
  const out = new Map<string, VipTask[]>();
  for (const t of tasks) {
    if (t.DesiredState !== "running" || t.Status?.State !== "running") continue;
    const containerId = t.Status.ContainerStatus?.ContainerID ?? "";
    if (containerId === "" || unhealthy.has(containerId)) continue;
    const service = serviceNames.get(t.ServiceID) ?? t.ServiceID;
    const list = out.get(t.ServiceID) ?? [];
    list.push({
      name: `${service}.${t.Slot ?? t.ID}`,
      taskId: t.ID,
      containerId,
      image: t.Spec?.ContainerSpec?.Image ?? "",
      address: addresses.get(containerId),
    });
    out.set(t.ServiceID, list);
  }
  for (const list of out.values()) list.sort((a, b) => a.name.localeCompare(b.name) || a.taskId.localeCompare(b.taskId));
  return out;
}

/** `<service>.<slot>@<digest prefix>` for each task: what a history line or a message names. */
export function describeTasks(tasks: readonly VipTask[]): string {
  if (tasks.length === 0) return "no task";
  return tasks.map((t) => `${t.name}(${t.taskId.slice(0, 10)})@${shortImage(t.image)}`).join(", ");
}

function shortImage(image: string): string {
  const at = image.indexOf("@sha256:");
  return at < 0 ? image : image.slice(at + 1, at + 1 + "sha256:".length + 12);
}

/** The tasks behind the virtual IP a request for `host` reaches ([] when none), or undefined for a 404 or 503. */
export function servingTasksIn(table: SwarmRoutingTable, vips: ReadonlyMap<string, VipTask[]>, host: string, path = "/"): VipTask[] | undefined {
  const decision = routeRequest(table, { host, path });
  if (decision.status !== "server") return undefined;
  return decision.servers.flatMap((s) => {
    const vip = table.vips.get(new URL(s).hostname);
    return vip === undefined ? [] : (vips.get(vip.serviceId) ?? []);
  });
}

/** What the model saw: a Traefik table applied, a virtual IP's task set changed, or a refresh failed. */
export type SwarmModelEvent =
  | { at: number; kind: "table"; table: SwarmRoutingTable }
  | { at: number; kind: "vip"; serviceId: string; tasks: VipTask[] }
  | { at: number; kind: "error"; error: string };

/** One line, with the time, for each change of what serves `host` (router, tasks) and each failed refresh. */
export function historyOf(events: readonly SwarmModelEvent[], host: string): string {
  let table: SwarmRoutingTable | undefined;
  const vips = new Map<string, VipTask[]>();
  let before: string | undefined;
  const lines: string[] = [];
  for (const e of [...events].sort((a, b) => a.at - b.at)) {
    if (e.kind === "error") {
      lines.push(`  ${stamp(e.at)} ${e.error}`);
      continue;
    }
    if (e.kind === "table") table = e.table;
    else vips.set(e.serviceId, e.tasks);
    if (table === undefined) continue;
    const decision = routeRequest(table, { host, path: "/" });
    const now = decision.status === "server" ? `router ${decision.router} → ${describeTasks(servingTasksIn(table, vips, host) ?? [])}` : String(decision.status);
    if (now !== before) lines.push(`  ${stamp(e.at)} ${host}: ${now}`);
    before = now;
  }
  return `swarm routing model, ${host}:\n${lines.join("\n")}`;
}

function stamp(at: number): string {
  return new Date(at).toISOString().slice(11, 23);
}
