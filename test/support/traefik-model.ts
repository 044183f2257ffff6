// A stand-in for Traefik's docker provider: a loopback HTTP reverse proxy whose routing table is
// rebuilt from the Engine's real containers exactly when Traefik would rebuild it
// (docs/design.md#events-and-throttle), with the rules of traefik-routing.ts. Story tests send traffic through it.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import Dockerode from "dockerode";
import { buildRoutingTable, routeRequest, type ContainerInspectLike, type RoutingOptions, type RoutingTable } from "./traefik-routing.js";

export { buildRoutingTable, routeRequest } from "./traefik-routing.js";
export type { ContainerInspectLike, Dropped, RouteDecision, RouterEntry, RoutingOptions, RoutingTable, ServiceEntry } from "./traefik-routing.js";

/** Traefik's `providersThrottleDuration` default (docs/design.md#events-and-throttle). */
export const TRAEFIK_THROTTLE_MS = 2000;
const RECONNECT_MS = 1000;
const REQUEST_TIMEOUT_MS = 30_000;

export interface TraefikModelOptions {
  docker?: Dockerode;
  throttleMs?: number;
  routing?: RoutingOptions;
  /** Deadline for one proxied request; past it the client gets 504 as from Traefik. */
  requestTimeoutMs?: number;
}

export interface TraefikModel {
  /** `http://127.0.0.1:<port>`; send requests with the app's Host header. */
  url: string;
  /** The configuration applied now. */
  table(): RoutingTable;
  /** Name of the container a request for `host` and `path` reaches now (names joined by "," when
   * its service has several servers), or undefined for a 404 or 503. */
  servingContainer(host: string, path?: string): string | undefined;
  /** Waits until `servingContainer(host)` equals `expected` (undefined: nothing serves). */
  waitForServing(host: string, expected: string | undefined, timeoutMs?: number): Promise<void>;
  /** When each applied configuration changed what serves `host`, and each failed refresh, one line
   * each with the wall-clock time: the message of an assertion on failed requests. */
  history(host: string): string;
  close(): Promise<void>;
}

/**
 * Starts the proxy: subscribes to container events, applies an initial full list, then refreshes
 * on `start`, `die` and `health_status*` only, through Traefik's throttle (docs/design.md#events-and-throttle).
 */
export async function startTraefikModel(opts: TraefikModelOptions = {}): Promise<TraefikModel> {
  const docker = opts.docker ?? new Dockerode();
  const routing = opts.routing ?? {};
  const requestTimeoutMs = opts.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  const closing = new AbortController();
  let current: RoutingTable = buildRoutingTable([], routing);
  const applies: { at: number; table: RoutingTable }[] = [];
  const refreshErrors: { at: number; error: string }[] = [];
  let firstApplied: (() => void) | undefined;
  const applied = new Promise<void>((resolve) => (firstApplied = resolve));
  const throttle = createThrottle<RoutingTable>(
    (table) => {
      current = table;
      applies.push({ at: Date.now(), table });
      firstApplied?.();
    },
    opts.throttleMs ?? TRAEFIK_THROTTLE_MS,
    closing.signal,
  );

  let lastRefreshError: unknown;
  const refresh = async (): Promise<void> => {
    try {
      throttle.offer(buildRoutingTable(await inspectAll(docker), routing));
    } catch (err) {
      // Traefik logs a failed relist and keeps the applied configuration; so does the model.
      lastRefreshError = err;
      refreshErrors.push({ at: Date.now(), error: String(err) });
    }
  };
  const watcher = watchEvents(docker, refresh, closing.signal);
  await watcher.connected;
  await refresh();
  if (lastRefreshError !== undefined) throw new Error("traefik model: initial container list failed", { cause: lastRefreshError });
  await applied;

  const balancer = new Map<string, number>();
  const server = http.createServer((req, res) => proxy(req, res, current, balancer, requestTimeoutMs));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const servingIn = (table: RoutingTable, host: string, path = "/"): string | undefined => {
    const decision = routeRequest(table, { host, path });
    if (decision.status !== "server") return undefined;
    return decision.servers.map((s) => table.serverContainers.get(s) ?? s).join(",");
  };
  const servingContainer = (host: string, path = "/"): string | undefined => servingIn(current, host, path);
  return {
    url: `http://127.0.0.1:${port}`,
    table: () => current,
    servingContainer,
    async waitForServing(host, expected, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (servingContainer(host) !== expected) {
        if (Date.now() > deadline) {
          throw new Error(
            `traefik model: ${host} served by ${servingContainer(host) ?? "nothing"}, not ${expected ?? "nothing"}, after ${timeoutMs}ms; dropped: ${JSON.stringify(current.dropped)}${lastRefreshError === undefined ? "" : `; last refresh error: ${String(lastRefreshError)}`}`,
          );
        }
        await sleep(100);
      }
    },
    history(host) {
      const lines: { at: number; line: string }[] = refreshErrors.map((e) => ({ at: e.at, line: `refresh failed: ${e.error}` }));
      let before: string | undefined;
      for (const { at, table } of applies) {
        const now = servingIn(table, host) ?? "nothing";
        if (now !== before) lines.push({ at, line: `${host} served by ${now}` });
        before = now;
      }
      const stamp = (at: number): string => new Date(at).toISOString().slice(11, 23);
      return `traefik model, ${host}:\n${lines
        .sort((a, b) => a.at - b.at)
        .map((l) => `  ${stamp(l.at)} ${l.line}`)
        .join("\n")}`;
    },
    async close() {
      closing.abort();
      await watcher.done;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Traefik's aggregator throttle (docs/design.md#events-and-throttle): a one-slot ring whose newest message overwrites the
 * buffered one, drained by a loop that applies a message and then sleeps `throttleMs`. So the
 * first change after a quiet period applies at once; later ones within the window are coalesced.
 */
export function createThrottle<T>(apply: (msg: T) => void, throttleMs: number, signal: AbortSignal): { offer(msg: T): void } {
  let slot: { msg: T } | undefined;
  let wake: (() => void) | undefined;
  const loop = async (): Promise<void> => {
    while (!signal.aborted) {
      if (slot === undefined) {
        await new Promise<void>((resolve) => {
          const done = (): void => {
            signal.removeEventListener("abort", done);
            resolve();
          };
          wake = done;
          signal.addEventListener("abort", done, { once: true });
        });
        wake = undefined;
        continue;
      }
      const { msg } = slot;
      slot = undefined;
      apply(msg);
      await pause(throttleMs, signal);
    }
  };
  void loop();
  return {
    offer(msg) {
      slot = { msg };
      wake?.();
    },
  };
}

/**
 * Like Traefik: list, then inspect every container. A container whose inspect fails (gone in
 * between, or the Engine erring) is left out of this configuration, as Traefik's
 * `inspectContainers` logs the error and returns no data for it.
 */
async function inspectAll(docker: Dockerode): Promise<ContainerInspectLike[]> {
  const list = await docker.listContainers({ all: true });
  const inspected = await Promise.all(
    list.map((c) =>
      docker
        .getContainer(c.Id)
        .inspect()
        .catch(() => undefined),
    ),
  );
  return inspected.filter((c): c is Dockerode.ContainerInspectInfo => c !== undefined);
}

/**
 * Container events, handled one at a time in arrival order as Traefik's provider loop does. When
 * the stream ends or fails, reconnect and relist (Traefik restarts the provider, docs/design.md#events-and-throttle).
 */
function watchEvents(
  docker: Dockerode,
  refresh: () => Promise<void>,
  signal: AbortSignal,
): { connected: Promise<void>; done: Promise<void> } {
  let markConnected: (() => void) | undefined;
  let failConnect: ((err: unknown) => void) | undefined;
  const connected = new Promise<void>((resolve, reject) => {
    markConnected = resolve;
    failConnect = reject;
  });
  const run = async (): Promise<void> => {
    let first = true;
    while (!signal.aborted) {
      let stream: NodeJS.ReadableStream & { destroy?: () => void };
      try {
        stream = await docker.getEvents({ filters: { type: ["container"] } });
      } catch (err) {
        if (first) return failConnect?.(err);
        await pause(RECONNECT_MS, signal);
        continue;
      }
      const stop = (): void => stream.destroy?.();
      signal.addEventListener("abort", stop, { once: true });
      if (first) markConnected?.();
      else await refresh();
      first = false;
      try {
        let buffered = "";
        for await (const chunk of stream) {
          buffered += typeof chunk === "string" ? chunk : chunk.toString("utf8");
          const lines = buffered.split("\n");
          buffered = lines.pop() ?? "";
          for (const line of lines) {
            if (line.trim() !== "" && triggersRefresh(line)) await refresh();
          }
        }
      } catch {
        // Stream closed by close() or by the daemon; the loop decides whether to reconnect.
      } finally {
        signal.removeEventListener("abort", stop);
      }
      if (!signal.aborted) await pause(RECONNECT_MS, signal);
    }
  };
  const done = run();
  return { connected, done: done.catch(() => undefined) };
}

/** Resolves after `ms` or at abort; global setTimeout, so fake timers in tests drive it. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

function triggersRefresh(line: string): boolean {
  const action = (JSON.parse(line) as { Action?: string }).Action ?? "";
  return action === "start" || action === "die" || action.startsWith("health_status");
}

/** Forwards like Traefik's default: pass the Host header, 404/503 as its muxer and balancer do. */
function proxy(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  table: RoutingTable,
  balancer: Map<string, number>,
  timeoutMs: number,
): void {
  const hostHeader = req.headers.host ?? "";
  const host = hostHeader.replace(/:\d+$/, "");
  const path = new URL(req.url ?? "/", "http://model.invalid").pathname;
  const decision = routeRequest(table, { host, path });
  if (decision.status === 404) return plain(res, 404, "404 page not found\n");
  if (decision.status === 503) return plain(res, 503, "no available server\n", decision.router);

  const turn = balancer.get(decision.service) ?? 0;
  balancer.set(decision.service, turn + 1);
  const server = decision.servers[turn % decision.servers.length] ?? "";
  const target = new URL(server);
  const container = table.serverContainers.get(server) ?? target.host;
  const headers = { ...req.headers, "x-forwarded-host": hostHeader, "x-forwarded-proto": "http", "x-forwarded-for": req.socket.remoteAddress ?? "" };
  delete headers.connection;
  const upstream = http.request(
    { host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent: false, signal: AbortSignal.timeout(timeoutMs) },
    (up) => {
      res.writeHead(up.statusCode ?? 502, { ...up.headers, "x-traefik-model-router": decision.router, "x-traefik-model-container": container });
      up.pipe(res);
    },
  );
  upstream.on("error", (err) => {
    if (res.headersSent) return res.destroy(err);
    if (err.name === "TimeoutError" || err.name === "AbortError") return plain(res, 504, "Gateway Timeout", decision.router, container);
    plain(res, 502, `Bad Gateway (${container}: ${(err as NodeJS.ErrnoException).code ?? err.message})`, decision.router, container);
  });
  req.pipe(upstream);
}

function plain(res: http.ServerResponse, status: number, body: string, router?: string, container?: string): void {
  const headers: Record<string, string> = { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff" };
  if (router !== undefined) headers["x-traefik-model-router"] = router;
  if (container !== undefined) headers["x-traefik-model-container"] = container;
  res.writeHead(status, headers).end(body);
}
