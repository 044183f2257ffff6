// A stand-in for Traefik's Swarm provider with `lbswarm`, and for the service's virtual IP: a
// loopback HTTP reverse proxy. Traefik's routing table is rebuilt from the Engine's services every
// `refreshMs`, as Traefik polls (Swarm has no events for it); the tasks behind each virtual IP are
// re-read every `vipRefreshMs`, since IPVS follows task state within moments. Each request goes
// round robin to one of those tasks (this kernel has no IPVS to do it). Rules in swarm-routing.ts,
// the behaviour modelled in docs/design.md#the-swarm-provider.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type Dockerode from "dockerode";
import { buildSwarmRoutingTable, describeTasks, historyOf, servingTasksIn, vipTasks, type SwarmModelEvent, type SwarmRoutingTable, type TaskLike, type VipTask } from "./swarm-routing.js";
import { routeRequest, type RoutingOptions } from "./traefik-routing.js";

/** Traefik's `providers.swarm.refreshSeconds` default (v3 pkg/provider/docker/pswarm.go `SetDefaults`). */
export const TRAEFIK_SWARM_REFRESH_MS = 15_000;
const VIP_REFRESH_MS = 250;
const REQUEST_TIMEOUT_MS = 30_000;
/**
 * Where the model reaches a task's container. The overlay address is not routed from the test's
 * namespace: a request to it leaves by the host's default route, and whatever answers there is not
 * the task (tried: a 404 from elsewhere). Every task container also has an address on the node's
 * docker_gwbridge, a local bridge from the private dockerd's own address pool, which
 * test/support/netns.ts routes from the host into the dockerd's namespace, and the fixture listens
 * on all addresses. So the model connects there, on the service's port; the swarm test proves it.
 */
const GWBRIDGE = "docker_gwbridge";

export interface SwarmRoutingModelOptions {
  docker: Dockerode;
  /** Traefik's refresh period; default 15 s as Traefik's. */
  refreshMs?: number;
  /** How often the virtual IPs' task sets are re-read; default 250 ms. */
  vipRefreshMs?: number;
  routing?: RoutingOptions;
  /** Deadline for one proxied request; past it the client gets 504 as from Traefik. */
  requestTimeoutMs?: number;
}

export interface SwarmRoutingModel {
  /** `http://127.0.0.1:<port>`; send requests with the app's Host header. */
  url: string;
  /** Traefik's configuration applied now. */
  table(): SwarmRoutingTable;
  /** The tasks behind the virtual IP a request for `host` reaches now ([] when none), or undefined for a 404 or 503. */
  servingTasks(host: string, path?: string): VipTask[] | undefined;
  /** Waits until the tasks serving `host` all run `image@digest` (a digest), or satisfy `test`. */
  waitForServing(host: string, expected: string | ((tasks: VipTask[]) => boolean), timeoutMs?: number): Promise<void>;
  /** Each change of what serves `host` (Traefik's router, the virtual IP's tasks) and each failed refresh, one line each with the time. */
  history(host: string): string;
  close(): Promise<void>;
}

export async function startSwarmRoutingModel(opts: SwarmRoutingModelOptions): Promise<SwarmRoutingModel> {
  const { docker } = opts;
  const routing = opts.routing ?? {};
  const requestTimeoutMs = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const closing = new AbortController();
  const events: SwarmModelEvent[] = [];
  let [table, vips] = await Promise.all([readTraefikTable(docker, routing), readVips(docker)]);
  // The task sets first: history's first line then names the tasks, not "no task" for a moment.
  const started = Date.now();
  for (const [serviceId, tasks] of vips) events.push({ at: started, kind: "vip", serviceId, tasks });
  events.push({ at: started, kind: "table", table });

  const refreshTable = async (): Promise<void> => {
    try {
      const next = await readTraefikTable(docker, routing);
      table = next;
      events.push({ at: Date.now(), kind: "table", table: next });
    } catch (err) {
      // Traefik's provider logs a failed list and retries; the applied configuration stays.
      if (!closing.signal.aborted) events.push({ at: Date.now(), kind: "error", error: `traefik refresh: ${String(err)}` });
    }
  };
  const refreshVips = async (): Promise<void> => {
    try {
      const next = await readVips(docker);
      for (const id of new Set([...vips.keys(), ...next.keys()])) {
        const tasks = next.get(id) ?? [];
        if (key(tasks) !== key(vips.get(id) ?? [])) events.push({ at: Date.now(), kind: "vip", serviceId: id, tasks });
      }
      vips = next;
    } catch (err) {
      if (!closing.signal.aborted) events.push({ at: Date.now(), kind: "error", error: `task refresh: ${String(err)}` });
    }
  };
  const loops = [every(opts.refreshMs ?? TRAEFIK_SWARM_REFRESH_MS, refreshTable, closing.signal), every(opts.vipRefreshMs ?? VIP_REFRESH_MS, refreshVips, closing.signal)];

  const turns = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const host = (req.headers.host ?? "").replace(/:\d+$/, "");
    const path = new URL(req.url ?? "/", "http://model.invalid").pathname;
    const target = pick(table, vips, turns, host, path);
    proxy(req, res, target, requestTimeoutMs);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const servingTasks = (host: string, path = "/"): VipTask[] | undefined => servingTasksIn(table, vips, host, path);
  const history = (host: string): string => historyOf(events, host);

  return {
    url: `http://127.0.0.1:${port}`,
    table: () => table,
    servingTasks,
    async waitForServing(host, expected, timeoutMs = 60_000) {
      const test = typeof expected === "string" ? (tasks: VipTask[]) => tasks.length > 0 && tasks.every((t) => t.image.endsWith(`@${expected}`)) : expected;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const tasks = servingTasks(host);
        if (tasks !== undefined && test(tasks)) return;
        if (Date.now() > deadline) {
          const what = tasks === undefined ? "no router" : describeTasks(tasks);
          throw new Error(`swarm routing model: ${host} served by ${what}, not ${typeof expected === "string" ? expected : "what was expected"}, after ${timeoutMs}ms; dropped: ${JSON.stringify(table.dropped)}\n${history(host)}`);
        }
        await sleep(100);
      }
    },
    history,
    async close() {
      closing.abort();
      await Promise.all(loops);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

type Target =
  | { status: 404 }
  | { status: 503; router: string }
  | { status: 502; router: string; reason: string }
  | { status: "task"; router: string; task: VipTask; address: string; port: string };

/** Traefik's choice of router and its one server (the virtual IP), then IPVS's choice of task. */
function pick(table: SwarmRoutingTable, vips: Map<string, VipTask[]>, turns: Map<string, number>, host: string, path: string): Target {
  const decision = routeRequest(table, { host, path });
  if (decision.status === 404) return { status: 404 };
  if (decision.status === 503) return { status: 503, router: decision.router };
  const url = new URL(decision.servers[0] ?? "");
  const vip = table.vips.get(url.hostname);
  if (vip === undefined) return { status: 502, router: decision.router, reason: `${url.host} is no service's virtual IP` };
  const tasks = vips.get(vip.serviceId) ?? [];
  // No task behind the virtual IP: nothing accepts the connection, and Traefik answers 502.
  if (tasks.length === 0) return { status: 502, router: decision.router, reason: `${vip.service}: no task behind its virtual IP ${url.hostname}` };
  const turn = turns.get(vip.serviceId) ?? 0;
  turns.set(vip.serviceId, turn + 1);
  const task = tasks[turn % tasks.length]!;
  if (task.address === undefined) return { status: 502, router: decision.router, reason: `${task.name} (${task.taskId}): no ${GWBRIDGE} address` };
  return { status: "task", router: decision.router, task, address: task.address, port: url.port || "80" };
}

function proxy(req: http.IncomingMessage, res: http.ServerResponse, target: Target, timeoutMs: number): void {
  if (target.status === 404) return plain(res, 404, "404 page not found\n");
  if (target.status === 503) return plain(res, 503, "no available server\n", { "x-traefik-model-router": target.router });
  if (target.status === 502) return plain(res, 502, `Bad Gateway (${target.reason})`, { "x-traefik-model-router": target.router });
  const { task } = target;
  const tags = { "x-traefik-model-router": target.router, "x-traefik-model-task": task.name, "x-traefik-model-task-id": task.taskId };
  const headers = { ...req.headers, "x-forwarded-host": req.headers.host ?? "", "x-forwarded-proto": "http", "x-forwarded-for": req.socket.remoteAddress ?? "" };
  delete headers.connection;
  const upstream = http.request(
    { host: target.address, port: target.port, method: req.method, path: req.url, headers, agent: false, signal: AbortSignal.timeout(timeoutMs) },
    (up) => {
      res.writeHead(up.statusCode ?? 502, { ...up.headers, ...tags });
      up.pipe(res);
    },
  );
  upstream.on("error", (err) => {
    if (res.headersSent) return res.destroy(err);
    if (err.name === "TimeoutError" || err.name === "AbortError") return plain(res, 504, "Gateway Timeout", tags);
    plain(res, 502, `Bad Gateway (task ${task.name} ${task.taskId} at ${target.address}:${target.port}: ${(err as NodeJS.ErrnoException).code ?? err.message})`, tags);
  });
  req.pipe(upstream);
}

function plain(res: http.ServerResponse, status: number, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff", ...extra }).end(body);
}

/** Like Traefik's `listServices`: the services, and the swarm-scoped networks their virtual IPs are on. */
async function readTraefikTable(docker: Dockerode, routing: RoutingOptions): Promise<SwarmRoutingTable> {
  const [services, networks] = await Promise.all([docker.listServices(), docker.listNetworks({ filters: { scope: ["swarm"] } })]);
  return buildSwarmRoutingTable(services, networks, routing);
}

/** Tasks first, then the addresses and health of their containers, so that every running task's container is already there. */
async function readVips(docker: Dockerode): Promise<Map<string, VipTask[]>> {
  const [tasks, services] = await Promise.all([docker.listTasks({ filters: { "desired-state": ["running"] } }) as Promise<TaskLike[]>, docker.listServices()]);
  const [gw, containers] = await Promise.all([
    docker.getNetwork(GWBRIDGE).inspect() as Promise<{ Containers?: Record<string, { IPv4Address?: string }> }>,
    docker.listContainers({ filters: { health: ["unhealthy"] } }),
  ]);
  const addresses = new Map(Object.entries(gw.Containers ?? {}).map(([id, c]) => [id, (c.IPv4Address ?? "").split("/")[0] ?? ""]));
  const names = new Map(services.map((s) => [s.ID, s.Spec?.Name ?? s.ID]));
  return vipTasks(tasks, names, addresses, new Set(containers.map((c) => c.Id)));
}

/** Runs `fn` now and again `ms` after each run ends, until `signal` aborts; resolves when the last run ended. */
async function every(ms: number, fn: () => Promise<void>, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    await sleep(ms, undefined, { signal }).catch(() => undefined);
    if (!signal.aborted) await fn();
  }
}

function key(tasks: readonly VipTask[]): string {
  return tasks.map((t) => `${t.taskId}:${t.address ?? ""}`).join(",");
}
