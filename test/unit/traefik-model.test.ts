// The Traefik model's routing rules (docs/design.md#traefik) on hand-written inspect objects,
// and its throttle (docs/design.md#events-and-throttle) on fake timers.
import { afterEach, describe, expect, it, vi } from "vitest";
import { buildRoutingTable, createThrottle, routeRequest, type ContainerInspectLike } from "../support/traefik-model.js";
import { matchRule, parseRule } from "../support/traefik-rule.js";

const NET = "apps";

function container(
  name: string,
  opts: {
    labels?: Record<string, string>;
    status?: string;
    health?: string;
    networks?: Record<string, string>;
    exposed?: string[];
  } = {},
): ContainerInspectLike {
  const networks = opts.networks ?? { [NET]: `172.20.0.${name.length}` };
  return {
    Id: `${name}-id`,
    Name: `/${name}`,
    State: { Status: opts.status ?? "running", Health: opts.health === undefined ? undefined : { Status: opts.health } },
    Config: {
      Labels: opts.labels ?? {},
      ExposedPorts: Object.fromEntries((opts.exposed ?? []).map((p) => [p, {}])),
    },
    HostConfig: { NetworkMode: Object.keys(networks)[0] ?? "none" },
    NetworkSettings: { Networks: Object.fromEntries(Object.entries(networks).map(([n, ip]) => [n, { IPAddress: ip }])) },
  };
}

/** The label set docs/design.md#slots-and-router-priorities prescribes for one slot. */
function slotLabels(app: string, slot: string, priority: number, rule = "Host(`web.test`)"): Record<string, string> {
  const r = `${app}-${slot}`;
  return {
    "traefik.enable": "true",
    "traefik.docker.network": NET,
    [`traefik.http.routers.${r}.rule`]: rule,
    [`traefik.http.routers.${r}.entrypoints`]: "web",
    [`traefik.http.routers.${r}.priority`]: String(priority),
    [`traefik.http.routers.${r}.service`]: r,
    [`traefik.http.services.${r}.loadbalancer.server.port`]: "8000",
  };
}

const req = (host: string, path = "/") => ({ host, path });

describe("buildRoutingTable", () => {
  it("routes a running container that has no health check", () => {
    const table = buildRoutingTable([container("web-blue", { labels: slotLabels("web", "blue", 101), networks: { [NET]: "172.20.0.2" } })]);
    expect(routeRequest(table, req("web.test"))).toEqual({
      status: "server",
      router: "web-blue",
      service: "web-blue",
      servers: ["http://172.20.0.2:8000"],
    });
    expect(table.serverContainers.get("http://172.20.0.2:8000")).toBe("web-blue");
  });

  it("leaves out containers whose health is starting or unhealthy, and routes healthy ones", () => {
    const table = buildRoutingTable([
      container("a-blue", { labels: slotLabels("a", "blue", 1, "Host(`a.test`)"), health: "starting" }),
      container("b-blue", { labels: slotLabels("b", "blue", 1, "Host(`b.test`)"), health: "unhealthy" }),
      container("c-blue", { labels: slotLabels("c", "blue", 1, "Host(`c.test`)"), health: "healthy" }),
    ]);
    expect([...table.routers.keys()]).toEqual(["c-blue"]);
    expect(routeRequest(table, req("a.test"))).toEqual({ status: 404 });
    expect(routeRequest(table, req("b.test"))).toEqual({ status: 404 });
    expect(routeRequest(table, req("c.test")).status).toBe("server");
    expect(table.dropped).toEqual([
      { kind: "container", name: "a-blue", reason: "unhealthy or starting (health starting)" },
      { kind: "container", name: "b-blue", reason: "unhealthy or starting (health unhealthy)" },
    ]);
  });

  it("leaves out stopped containers and containers with traefik.enable=false", () => {
    const table = buildRoutingTable([
      container("web-blue", { labels: slotLabels("web", "blue", 101), status: "exited" }),
      container("web-green", { labels: { ...slotLabels("web", "green", 102), "traefik.enable": "false" } }),
    ]);
    expect(table.routers.size).toBe(0);
    expect(table.dropped.map((d) => d.reason)).toEqual(["not running (status exited)", "disabled (traefik.enable is not true)"]);
  });

  it("exposes a container without traefik labels by default under its normalised name", () => {
    const table = buildRoutingTable([container("my_app.1", { exposed: ["9000/tcp", "8080/tcp"] })]);
    expect(table.routers.get("my-app-1")).toMatchObject({ rule: "Host(`my-app-1`)", service: "my-app-1" });
    expect(table.services.get("my-app-1")?.servers).toEqual([`http://172.20.0.8:8080`]);
    expect(buildRoutingTable([container("my_app.1")], { exposedByDefault: false }).routers.size).toBe(0);
  });

  it("deletes a router that two containers declare with different configurations", () => {
    // The trap of docs/design.md#router-conflicts: same router name, implicit service = each container's own name.
    const shared = { "traefik.enable": "true", "traefik.http.routers.web.rule": "Host(`web.test`)", "traefik.http.services.x.loadbalancer.server.port": "8000" };
    const table = buildRoutingTable([
      container("web-blue", { labels: { ...shared, "traefik.http.routers.web.service": "web-blue" } }),
      container("web-green", { labels: { ...shared, "traefik.http.routers.web.service": "web-green" } }),
    ]);
    expect(table.routers.has("web")).toBe(false);
    expect(routeRequest(table, req("web.test"))).toEqual({ status: 404 });
    expect(table.dropped).toContainEqual({
      kind: "router",
      name: "web",
      reason: "defined multiple times with different configurations (by web-blue, web-green)",
    });
  });

  it("deletes a router two containers declare with different priorities", () => {
    const labels = (p: number) => ({ ...slotLabels("web", "x", p), "traefik.http.services.web-x.loadbalancer.server.port": "8000" });
    const table = buildRoutingTable([
      container("one", { labels: labels(1), networks: { [NET]: "172.20.0.2" } }),
      container("two", { labels: labels(2), networks: { [NET]: "172.20.0.3" } }),
    ]);
    expect(table.routers.size).toBe(0);
    expect(table.services.get("web-x")?.servers).toHaveLength(2);
  });

  it("keeps an identically declared router and merges the servers of its service", () => {
    const labels = slotLabels("web", "shared", 10);
    const table = buildRoutingTable([
      container("blue", { labels, networks: { [NET]: "172.20.0.2" } }),
      container("green", { labels, networks: { [NET]: "172.20.0.3" } }),
    ]);
    expect(table.routers.get("web-shared")?.containers).toEqual(["blue", "green"]);
    expect(table.services.get("web-shared")?.servers).toEqual(["http://172.20.0.2:8000", "http://172.20.0.3:8000"]);
  });

  it("deletes a service declared with different settings, which disables its router", () => {
    const labels = (pass: string) => ({ ...slotLabels("web", "s", 10), "traefik.http.services.web-s.loadbalancer.passhostheader": pass });
    const table = buildRoutingTable([container("blue", { labels: labels("true") }), container("green", { labels: labels("false") })]);
    expect(table.services.has("web-s")).toBe(false);
    expect(table.routers.has("web-s")).toBe(false);
    expect(routeRequest(table, req("web.test"))).toEqual({ status: 404 });
    expect(table.dropped.map((d) => `${d.kind} ${d.name}`)).toEqual(["service web-s", "router web-s"]);
  });

  it("lets the higher-priority matching router serve", () => {
    const table = buildRoutingTable([
      container("web-blue", { labels: slotLabels("web", "blue", 101), networks: { [NET]: "172.20.0.2" } }),
      container("web-green", { labels: slotLabels("web", "green", 102), networks: { [NET]: "172.20.0.3" } }),
    ]);
    expect(table.routes.map((r) => r.name)).toEqual(["web-green", "web-blue"]);
    expect(routeRequest(table, req("web.test"))).toMatchObject({ router: "web-green", servers: ["http://172.20.0.3:8000"] });
  });

  it("falls back to the lower router when the higher one's container is still starting", () => {
    const table = buildRoutingTable([
      container("web-blue", { labels: slotLabels("web", "blue", 101), health: "healthy" }),
      container("web-green", { labels: slotLabels("web", "green", 102), health: "starting" }),
    ]);
    expect(routeRequest(table, req("web.test"))).toMatchObject({ router: "web-blue" });
  });

  it("answers 503 without falling back when the higher router's service has no server", () => {
    const table = buildRoutingTable(
      [
        container("web-blue", { labels: slotLabels("web", "blue", 101), health: "healthy" }),
        container("web-green", { labels: slotLabels("web", "green", 102), health: "unhealthy" }),
      ],
      { allowEmptyServices: true },
    );
    expect(routeRequest(table, req("web.test"))).toEqual({ status: 503, router: "web-green", service: "web-green" });
  });

  it("uses the rule's length as the priority when none is given", () => {
    const longRule = "Host(`web.test`) && PathPrefix(`/api`)";
    const table = buildRoutingTable([
      container("short", { labels: { "traefik.http.routers.short.rule": "Host(`web.test`)" }, exposed: ["80/tcp"] }),
      container("long", { labels: { "traefik.http.routers.long.rule": longRule }, exposed: ["80/tcp"] }),
    ]);
    expect(table.routers.get("long")?.priority).toBe(longRule.length);
    expect(routeRequest(table, req("web.test", "/api/x"))).toMatchObject({ router: "long" });
    expect(routeRequest(table, req("web.test", "/other"))).toMatchObject({ router: "short" });
  });

  it("takes the address on the traefik.docker.network network", () => {
    const table = buildRoutingTable([
      container("web-blue", { labels: slotLabels("web", "blue", 1), networks: { other: "10.9.0.5", [NET]: "172.20.0.9" } }),
    ]);
    expect(table.services.get("web-blue")?.servers).toEqual(["http://172.20.0.9:8000"]);
    expect(table.warnings).toEqual([]);
  });

  it("warns and takes another network when the labelled network is not the container's", () => {
    const table = buildRoutingTable([container("web-blue", { labels: slotLabels("web", "blue", 1), networks: { bridge: "172.17.0.4" } })]);
    expect(table.services.get("web-blue")?.servers).toEqual(["http://172.17.0.4:8000"]);
    expect(table.warnings).toEqual(['web-blue: no network named "apps"; Traefik defaults to a random one of [bridge] (model took bridge)']);
  });

  it("drops a container that has no address on any network", () => {
    const table = buildRoutingTable([container("web-blue", { labels: slotLabels("web", "blue", 1), networks: {} })]);
    expect(table.routers.size).toBe(0);
    expect(table.dropped).toEqual([
      { kind: "container", name: "web-blue", reason: "unable to find the IP address for the container; the server is ignored" },
    ]);
  });

  it("disables a router whose service is defined nowhere", () => {
    const labels = { ...slotLabels("web", "blue", 1), "traefik.http.routers.web-blue.service": "elsewhere@file" };
    const table = buildRoutingTable([container("web-blue", { labels })]);
    expect(table.routers.size).toBe(0);
    expect(table.dropped).toContainEqual({ kind: "router", name: "web-blue", reason: 'the service "elsewhere@file" does not exist' });
  });

  it("serves only routers on the model's entrypoint", () => {
    const labels = { ...slotLabels("web", "blue", 1), "traefik.http.routers.web-blue.entrypoints": "websecure" };
    expect(buildRoutingTable([container("web-blue", { labels })], { entrypoint: "web" }).routes).toEqual([]);
    expect(buildRoutingTable([container("web-blue", { labels })]).routes).toHaveLength(1);
  });
});

describe("rules", () => {
  it("matches Host with one or several names, ignoring case", () => {
    expect(matchRule(parseRule("Host(`a.test`)"), req("A.Test"))).toBe(true);
    expect(matchRule(parseRule("Host(`a.test`, `b.test`)"), req("b.test"))).toBe(true);
    expect(matchRule(parseRule("Host(`a.test`,`b.test`)"), req("c.test"))).toBe(false);
  });

  it("combines Host and PathPrefix with && and ||", () => {
    const rule = parseRule("Host(`a.test`) && PathPrefix(`/api`) || Host(`b.test`)");
    expect(matchRule(rule, req("a.test", "/api/v1"))).toBe(true);
    expect(matchRule(rule, req("a.test", "/web"))).toBe(false);
    expect(matchRule(rule, req("b.test", "/web"))).toBe(true);
    expect(matchRule(parseRule("Host(`a.test`) && (PathPrefix(`/x`) || PathPrefix(`/y`))"), req("a.test", "/y"))).toBe(true);
  });

  it("reports a rule it cannot evaluate instead of matching it", () => {
    const table = buildRoutingTable([container("web-blue", { labels: slotLabels("web", "blue", 1, "Header(`X-A`, `1`)") })]);
    expect(table.dropped).toEqual([
      { kind: "router", name: "web-blue", reason: "model cannot evaluate rule: matcher Header is not evaluated by the model" },
    ]);
  });
});

describe("createThrottle", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("applies the first change at once and only the latest of a burst after the throttle", async () => {
    vi.useFakeTimers();
    const applied: string[] = [];
    const stop = new AbortController();
    const throttle = createThrottle<string>((m) => applied.push(m), 2000, stop.signal);
    throttle.offer("first");
    await vi.advanceTimersByTimeAsync(0);
    expect(applied).toEqual(["first"]);
    throttle.offer("second");
    throttle.offer("third");
    await vi.advanceTimersByTimeAsync(1999);
    expect(applied).toEqual(["first"]);
    await vi.advanceTimersByTimeAsync(1);
    expect(applied).toEqual(["first", "third"]);
    await vi.advanceTimersByTimeAsync(5000);
    throttle.offer("after quiet");
    await vi.advanceTimersByTimeAsync(0);
    expect(applied).toEqual(["first", "third", "after quiet"]);
    stop.abort();
  });
});
