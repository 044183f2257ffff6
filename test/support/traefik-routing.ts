// The routing table Traefik's docker provider would build from the Engine's containers, following
// docs/design.md#traefik: health filtering, router conflicts and merges, priority (404/503), and
// network and port. Pure: inspect objects in, table out. Not modelled: TLS, middlewares (only
// compared for router equality), constraints, TCP/UDP, compose service names, `container:` networking.
import { RuleError, matchRule, parseRule, type Rule } from "./traefik-rule.js";

/** The part of `docker inspect` Traefik reads; dockerode's `ContainerInspectInfo` fits it. */
export interface ContainerInspectLike {
  Id: string;
  Name: string;
  State: { Status: string; Health?: { Status: string } | undefined };
  Config: { Labels?: Record<string, string> | null; ExposedPorts?: Record<string, unknown> | null };
  HostConfig?: { NetworkMode?: string | undefined };
  NetworkSettings: { Networks?: Record<string, { IPAddress?: string; GlobalIPv6Address?: string }> | null };
}

export interface RoutingOptions {
  /** `providers.docker.network`; the `traefik.docker.network` label overrides it. */
  network?: string;
  /** `providers.docker.exposedByDefault`; Traefik's default is true. */
  exposedByDefault?: boolean;
  /** `providers.docker.allowEmptyServices`; default false. With true, a starting or unhealthy
   * container keeps its routers and services but adds no server (503 instead of 404, docs/design.md#health-filtering). */
  allowEmptyServices?: boolean;
  /** Serve only routers on this entrypoint (routers without entrypoints are on all of them). */
  entrypoint?: string;
}

export interface RouterEntry {
  name: string;
  rule: string;
  /** Effective priority: the label, or the rule's length when absent or 0 (docs/design.md#priority). */
  priority: number;
  service: string;
  entrypoints: string[];
  middlewares: string[];
  /** Containers that declared it (several when identical, docs/design.md#router-conflicts). */
  containers: string[];
}

export interface ServiceEntry {
  /** Server URLs, e.g. `http://172.18.0.3:8000`. */
  servers: string[];
  /** Containers that declared it; a filtered-out container under allowEmptyServices adds no server. */
  containers: string[];
}

export interface Dropped {
  kind: "container" | "router" | "service";
  name: string;
  reason: string;
}

export interface RoutingTable {
  routers: Map<string, RouterEntry>;
  services: Map<string, ServiceEntry>;
  /** Routers the model's entrypoint serves, in the order Traefik's muxer tries them. */
  routes: RouterEntry[];
  dropped: Dropped[];
  /** Situations where Traefik logs a warning and its choice is not deterministic (docs/design.md#network-and-port). */
  warnings: string[];
  /** Server URL → container name. */
  serverContainers: Map<string, string>;
}

export type RouteDecision =
  | { status: "server"; router: string; service: string; servers: string[] }
  | { status: 503; router: string; service: string }
  | { status: 404 };

type Opts = RoutingOptions & { exposedByDefault: boolean; allowEmptyServices: boolean };
const DEFAULTS = { exposedByDefault: true, allowEmptyServices: false };

interface ContainerConf {
  container: string;
  routers: Map<string, { canonical: string; entry: RouterEntry }>;
  services: Map<string, { canonical: string; servers: string[] }>;
}

export function buildRoutingTable(containers: readonly ContainerInspectLike[], options: RoutingOptions = {}): RoutingTable {
  const opts: Opts = { ...DEFAULTS, ...options };
  const table: RoutingTable = {
    routers: new Map(),
    services: new Map(),
    routes: [],
    dropped: [],
    warnings: [],
    serverContainers: new Map(),
  };
  const confs: ContainerConf[] = [];
  for (const c of containers) {
    try {
      const conf = containerConf(c, opts, table);
      if (conf !== undefined) confs.push(conf);
    } catch (err) {
      table.dropped.push({ kind: "container", name: containerName(c), reason: (err as Error).message });
    }
  }
  merge(confs, table);
  table.routes = [...table.routers.values()]
    .filter((r) => opts.entrypoint === undefined || r.entrypoints.length === 0 || r.entrypoints.includes(opts.entrypoint))
    .sort((a, b) => b.priority - a.priority || a.name.localeCompare(b.name));
  return table;
}

/** What Traefik does with a request: the first matching route serves, with no fallback (docs/design.md#priority). */
export function routeRequest(table: RoutingTable, req: { host: string; path: string }): RouteDecision {
  for (const router of table.routes) {
    if (!matchRule(parsedRules.get(router) ?? parseRule(router.rule), req)) continue;
    const service = table.services.get(router.service);
    if (service === undefined || service.servers.length === 0) return { status: 503, router: router.name, service: router.service };
    return { status: "server", router: router.name, service: router.service, servers: service.servers };
  }
  return { status: 404 };
}

const parsedRules = new WeakMap<RouterEntry, Rule>();

/** Health filter, label decoding, default service and router, server address (docs/design.md#traefik). */
function containerConf(c: ContainerInspectLike, opts: Opts, table: RoutingTable): ContainerConf | undefined {
  const name = containerName(c);
  const labels = c.Config.Labels ?? {};
  const drop = (reason: string): undefined => {
    table.dropped.push({ kind: "container", name, reason });
    return undefined;
  };
  const enable = parseBool("traefik.enable", labels["traefik.enable"]) ?? opts.exposedByDefault;
  if (!enable) return drop("disabled (traefik.enable is not true)");
  if (c.State.Status !== "running") return drop(`not running (status ${c.State.Status})`);
  const health = c.State.Health?.Status ?? "";
  const unhealthy = health !== "" && health !== "healthy";
  if (unhealthy && !opts.allowEmptyServices) return drop(`unhealthy or starting (health ${health})`);

  const decoded = decodeLabels(labels);
  const serviceName = normalize(name);
  if (decoded.services.size === 0) decoded.services.set(serviceName, {});
  if (decoded.routers.size === 0 && decoded.services.size === 1) decoded.routers.set(serviceName, {});

  const conf: ContainerConf = { container: name, routers: new Map(), services: new Map() };
  for (const [svc, fields] of decoded.services) {
    const servers = unhealthy ? [] : [serverUrl(c, labels, fields, opts, table)];
    for (const url of servers) table.serverContainers.set(url, name);
    conf.services.set(svc, { canonical: canonicalService(fields), servers });
  }
  for (const [router, fields] of decoded.routers) {
    let service = fields.service ?? "";
    if (service === "") {
      if (decoded.services.size > 1) {
        table.dropped.push({ kind: "router", name: router, reason: `${name}: no service label and ${decoded.services.size} services` });
        continue;
      }
      service = [...decoded.services.keys()][0] ?? serviceName;
    }
    const rule = fields.rule ?? `Host(\`${serviceName}\`)`;
    const priority = parseInt10(`router ${router} priority`, fields.priority ?? "0");
    const entry: RouterEntry = {
      name: router,
      rule,
      priority: priority === 0 ? Buffer.byteLength(rule) : priority,
      service,
      entrypoints: list(fields.entrypoints),
      middlewares: list(fields.middlewares),
      containers: [name],
    };
    const canonical = JSON.stringify(sortKeys({ ...fields, rule, priority: String(priority), service, entrypoints: entry.entrypoints, middlewares: entry.middlewares }));
    conf.routers.set(router, { canonical, entry });
  }
  return conf;
}

/** docs/design.md#router-conflicts: routers must be identical or are deleted; services merge servers if all else is equal. */
function merge(confs: ContainerConf[], table: RoutingTable): void {
  const routers = new Map<string, { canonical: string; entry: RouterEntry }>();
  const services = new Map<string, { canonical: string; entry: ServiceEntry }>();
  const badRouters = new Map<string, string[]>();
  const badServices = new Map<string, string[]>();
  for (const conf of [...confs].sort((a, b) => a.container.localeCompare(b.container))) {
    for (const [name, { canonical, servers }] of conf.services) {
      const seen = services.get(name);
      if (seen === undefined) {
        services.set(name, { canonical, entry: { servers: [...servers], containers: [conf.container] } });
      } else if (seen.canonical === canonical) {
        seen.entry.servers.push(...servers.filter((s) => !seen.entry.servers.includes(s)));
        seen.entry.containers.push(conf.container);
      } else {
        badServices.set(name, [...(badServices.get(name) ?? seen.entry.containers), conf.container]);
      }
    }
    for (const [name, { canonical, entry }] of conf.routers) {
      const seen = routers.get(name);
      if (seen === undefined) routers.set(name, { canonical, entry: { ...entry, containers: [conf.container] } });
      else if (seen.canonical === canonical) seen.entry.containers.push(conf.container);
      else badRouters.set(name, [...(badRouters.get(name) ?? seen.entry.containers), conf.container]);
    }
  }
  for (const [name, by] of badServices) {
    services.delete(name);
    table.dropped.push({ kind: "service", name, reason: `defined multiple times with different configurations (by ${by.join(", ")})` });
  }
  for (const [name, by] of badRouters) {
    routers.delete(name);
    table.dropped.push({ kind: "router", name, reason: `defined multiple times with different configurations (by ${by.join(", ")})` });
  }
  for (const [name, { entry }] of services) table.services.set(name, entry);
  for (const [name, { entry }] of routers) {
    const service = entry.service.endsWith("@docker") ? entry.service.slice(0, -"@docker".length) : entry.service;
    if (!table.services.has(service)) {
      // Traefik disables a router whose service is missing: absent from the muxer, not a 503.
      table.dropped.push({ kind: "router", name, reason: `the service "${entry.service}" does not exist` });
      continue;
    }
    const final: RouterEntry = { ...entry, service };
    try {
      parsedRules.set(final, parseRule(entry.rule));
    } catch (err) {
      const prefix = err instanceof RuleError && err.unsupported ? "model cannot evaluate rule: " : "invalid rule: ";
      table.dropped.push({ kind: "router", name, reason: prefix + (err as Error).message });
      continue;
    }
    table.routers.set(name, final);
  }
}

interface DecodedLabels {
  routers: Map<string, Record<string, string>>;
  services: Map<string, Record<string, string>>;
}

/** `traefik.http.routers.<name>.<field…>` and `traefik.http.services.<name>.<field…>`; field paths
 * are case-insensitive in Traefik's label decoder, names are not. */
function decodeLabels(labels: Record<string, string>): DecodedLabels {
  const out: DecodedLabels = { routers: new Map(), services: new Map() };
  for (const [key, value] of Object.entries(labels)) {
    const m = /^traefik\.http\.(routers|services)\.([^.]+)\.(.+)$/i.exec(key);
    if (m === null) continue;
    const [, kind = "", name = "", field = ""] = m;
    const target = kind.toLowerCase() === "routers" ? out.routers : out.services;
    const fields = target.get(name) ?? {};
    fields[field.toLowerCase()] = value;
    target.set(name, fields);
  }
  return out;
}

function canonicalService(fields: Record<string, string>): string {
  const rest: Record<string, string> = { "loadbalancer.passhostheader": "true" };
  for (const [k, v] of Object.entries(fields)) {
    if (k.startsWith("loadbalancer.server.")) continue;
    rest[k] = k === "loadbalancer.passhostheader" ? String(parseBool(k, v) ?? true) : v;
  }
  return JSON.stringify(sortKeys(rest));
}

/** docs/design.md#network-and-port: IP on the labelled (or provider) network, else any network with a warning; port label,
 * else the lowest exposed port. */
function serverUrl(
  c: ContainerInspectLike,
  labels: Record<string, string>,
  fields: Record<string, string>,
  opts: RoutingOptions,
  table: RoutingTable,
): string {
  const name = containerName(c);
  if (fields["loadbalancer.server.url"] !== undefined) return fields["loadbalancer.server.url"];
  const wanted = labels["traefik.docker.network"] ?? opts.network;
  const networks = c.NetworkSettings.Networks ?? {};
  let addr: string | undefined;
  if (wanted !== undefined && networks[wanted] !== undefined) {
    addr = address(networks[wanted]);
  } else if (c.HostConfig?.NetworkMode === "host") {
    addr = "127.0.0.1";
  } else {
    const names = Object.keys(networks);
    const first = names[0];
    if (first !== undefined) {
      if (wanted !== undefined) {
        table.warnings.push(`${name}: no network named "${wanted}"; Traefik defaults to a random one of [${names.join(", ")}] (model took ${first})`);
      } else if (names.length > 1) {
        table.warnings.push(`${name}: several networks and no traefik.docker.network; Traefik picks a random one of [${names.join(", ")}]`);
      }
      addr = address(networks[first]);
    }
  }
  if (addr === undefined || addr === "") throw new Error("unable to find the IP address for the container; the server is ignored");
  const port = fields["loadbalancer.server.port"] ?? lowestExposedPort(c);
  if (port === undefined) throw new Error("port is missing (no loadbalancer.server.port label and no exposed port)");
  const scheme = fields["loadbalancer.server.scheme"] ?? "http";
  return `${scheme}://${addr.includes(":") ? `[${addr}]` : addr}:${port}`;
}

function address(n: { IPAddress?: string; GlobalIPv6Address?: string } | undefined): string {
  return n?.IPAddress || n?.GlobalIPv6Address || "";
}

function lowestExposedPort(c: ContainerInspectLike): string | undefined {
  const ports = Object.keys(c.Config.ExposedPorts ?? {}).map((p) => Number.parseInt(p, 10)).filter(Number.isFinite);
  return ports.length === 0 ? undefined : String(Math.min(...ports));
}

export function containerName(c: ContainerInspectLike): string {
  return c.Name.replace(/^\//, "");
}

/** Traefik's provider.Normalize: runs of characters other than letters and digits become one "-". */
export function normalize(name: string): string {
  return name.split(/[^\p{L}\p{N}]+/u).filter((s) => s !== "").join("-");
}

/** Go's strconv.ParseBool, which Traefik's label decoder uses. */
export function parseBool(key: string, value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return false;
  throw new Error(`label ${key}: invalid boolean ${JSON.stringify(value)}`);
}

function parseInt10(what: string, value: string): number {
  if (!/^[+-]?\d+$/.test(value.trim())) throw new Error(`${what}: invalid integer ${JSON.stringify(value)}`);
  return Number.parseInt(value, 10);
}

function list(value: string | undefined): string[] {
  return value === undefined ? [] : value.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

function sortKeys(obj: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).sort(([a], [b]) => a.localeCompare(b)));
}
