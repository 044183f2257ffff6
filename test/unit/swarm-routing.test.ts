// The Swarm routing model's pure parts (test/support/swarm-routing.ts): which services Traefik's
// Swarm provider lists and routes to, and which tasks a service's virtual IP balances across.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../agent/config/load.js";
import { webServiceSpec } from "../../agent/deploy/service-plan.js";
import { buildSwarmRoutingTable, describeTasks, historyOf, servingTasksIn, vipTasks, type ServiceLike, type TaskLike } from "../support/swarm-routing.js";
import { routeRequest } from "../support/traefik-routing.js";

const NETS = [
  { Id: "net-web", Name: "web" },
  { Id: "net-db", Name: "db" },
];
const digest = `sha256:${"a".repeat(64)}`;

/** The labels the agent gives web's service (agent/deploy/service-plan.ts) for app `name` on host `host`. */
function agentLabels(name: string, host: string, generation = 1): Record<string, string> {
  const cfg = parseConfig(
    [
      "apps:",
      `  ${name}:`,
      "    image: 127.0.0.1:5000/acme/web",
      "    backend: swarm",
      "    port: 8000",
      "    health: { path: /health }",
      `    route: { rule: "Host(\`${host}\`)", entrypoints: [web], network: web }`,
      "",
    ].join("\n"),
  ).apps[name]!;
  return webServiceSpec(name, cfg, { deployId: "1", version: "v1", digest, generation }, { Test: [], Interval: 0, Timeout: 0, StartPeriod: 0, Retries: 0 }).Labels;
}

function service(id: string, name: string, labels: Record<string, string>, vips: Record<string, string> = { "net-web": "10.0.1.2/24" }, mode = "vip"): ServiceLike {
  return {
    ID: id,
    Spec: { Name: name, Labels: labels, EndpointSpec: { Mode: mode } },
    Endpoint: { VirtualIPs: Object.entries(vips).map(([NetworkID, Addr]) => ({ NetworkID, Addr })) },
  };
}

function task(id: string, serviceId: string, slot: number, state: string, desired = "running", image = `acme/web@${digest}`): TaskLike {
  return { ID: id, ServiceID: serviceId, Slot: slot, DesiredState: desired, Status: { State: state, ContainerStatus: { ContainerID: `c-${id}` } }, Spec: { ContainerSpec: { Image: image } } };
}

describe("buildSwarmRoutingTable", () => {
  it("routes the agent's web service to its virtual IP on the labelled network, with the router's rule, priority and entrypoints", () => {
    const table = buildSwarmRoutingTable([service("s1", "shop", agentLabels("shop", "shop.test", 3), { "net-db": "10.0.2.5/24", "net-web": "10.0.1.2/24" })], NETS);
    expect(routeRequest(table, { host: "shop.test", path: "/" })).toEqual({ status: "server", router: "shop", service: "shop", servers: ["http://10.0.1.2:8000"] });
    expect(table.routers.get("shop")).toMatchObject({ rule: "Host(`shop.test`)", priority: 1_000_003, entrypoints: ["web"] });
    expect(table.vips.get("10.0.1.2")).toEqual({ serviceId: "s1", service: "shop" });
    expect(table.warnings).toEqual([]);
    expect(routeRequest(table, { host: "other.test", path: "/" })).toEqual({ status: 404 });
  });

  it("lists a service whatever its tasks do: Traefik reads neither their state nor their health", () => {
    // Nothing about tasks goes in: the table is the same with none running.
    const table = buildSwarmRoutingTable([service("s1", "shop", agentLabels("shop", "shop.test"))], NETS);
    expect([...table.routers.keys()]).toEqual(["shop"]);
  });

  it("leaves out a service without lbswarm, one with a dnsrr endpoint, and one with traefik.enable=false", () => {
    const labels = agentLabels("shop", "shop.test");
    const { ["traefik.docker.lbswarm"]: _, ...noLb } = labels;
    const table = buildSwarmRoutingTable(
      [
        service("s1", "tasks", noLb),
        service("s2", "rr", labels, {}, "dnsrr"),
        service("s3", "shop-worker", { ...labels, "traefik.enable": "false" }),
      ],
      NETS,
    );
    expect(table.routers.size).toBe(0);
    expect(table.dropped).toEqual([
      { kind: "container", name: "tasks", reason: "not modelled: without lbswarm Traefik lists the service's tasks itself" },
      { kind: "container", name: "rr", reason: "not modelled: endpoint mode dnsrr (Traefik ignores lbswarm and lists the tasks)" },
      { kind: "container", name: "shop-worker", reason: "disabled (traefik.enable is not true)" },
    ]);
  });

  it("reads lbswarm and the network under traefik.swarm. too, and refuses a service that has both prefixes", () => {
    const labels = agentLabels("shop", "shop.test");
    const { ["traefik.docker.lbswarm"]: _lb, ["traefik.docker.network"]: _net, ...rest } = labels;
    const swarmLabels = { ...rest, "traefik.swarm.lbswarm": "true", "traefik.swarm.network": "db" };
    const table = buildSwarmRoutingTable(
      [
        service("s1", "shop", swarmLabels, { "net-db": "10.0.2.5/24", "net-web": "10.0.1.2/24" }),
        service("s2", "both", { ...labels, "traefik.swarm.lbswarm": "true" }),
        service("s3", "typo", { ...labels, "traefik.docker.lbswarm": "yes" }),
      ],
      NETS,
    );
    expect(routeRequest(table, { host: "shop.test", path: "/" })).toMatchObject({ servers: ["http://10.0.2.5:8000"] });
    expect(table.dropped).toEqual([
      { kind: "container", name: "both", reason: "decoding Swarm labels: both Docker and Swarm labels are defined" },
      { kind: "container", name: "typo", reason: 'label traefik.docker.lbswarm: invalid boolean "yes"' },
    ]);
  });

  it("does not list a service whose virtual IPs are on no swarm network it knows", () => {
    const table = buildSwarmRoutingTable([service("s1", "shop", agentLabels("shop", "shop.test"), { "net-gone": "10.0.9.2/24" })], NETS);
    expect(table.dropped).toEqual([{ kind: "container", name: "shop", reason: "no virtual IP on a swarm network (not listed)" }]);
    expect(routeRequest(table, { host: "shop.test", path: "/" })).toEqual({ status: 404 });
  });

  it("sends a host to the service whose router has the higher priority, as for containers", () => {
    const table = buildSwarmRoutingTable(
      [
        service("s1", "old", { ...agentLabels("old", "shop.test", 1) }, { "net-web": "10.0.1.2/24" }),
        service("s2", "new", { ...agentLabels("new", "shop.test", 2) }, { "net-web": "10.0.1.7/24" }),
      ],
      NETS,
    );
    expect(routeRequest(table, { host: "shop.test", path: "/" })).toMatchObject({ router: "new", servers: ["http://10.0.1.7:8000"] });
  });
});

describe("vipTasks", () => {
  const names = new Map([["s1", "shop"]]);
  const addresses = new Map([
    ["c-t1", "10.239.1.3"],
    ["c-t2", "10.239.1.4"],
    ["c-t3", "10.239.1.5"],
  ]);

  it("keeps the tasks desired and reported running, named <service>.<slot>, with their gwbridge address", () => {
    const set = vipTasks(
      [task("t2", "s1", 2, "running"), task("t1", "s1", 1, "running"), task("t3", "s1", 1, "starting"), task("t4", "s1", 2, "preparing")],
      names,
      addresses,
    );
    expect(set.get("s1")).toEqual([
      { name: "shop.1", taskId: "t1", containerId: "c-t1", image: `acme/web@${digest}`, address: "10.239.1.3" },
      { name: "shop.2", taskId: "t2", containerId: "c-t2", image: `acme/web@${digest}`, address: "10.239.1.4" },
    ]);
  });

  it("takes a task out as soon as Swarm wants it shut down, before its container stops", () => {
    const set = vipTasks([task("t1", "s1", 1, "running", "shutdown"), task("t2", "s1", 1, "running")], names, addresses);
    expect(set.get("s1")?.map((t) => t.taskId)).toEqual(["t2"]);
  });

  it("takes out a task whose container turned unhealthy", () => {
    const set = vipTasks([task("t1", "s1", 1, "running"), task("t2", "s1", 2, "running")], names, addresses, new Set(["c-t1"]));
    expect(set.get("s1")?.map((t) => t.taskId)).toEqual(["t2"]);
  });

  it("has no entry for a service with no serving task, and leaves the address unknown when the bridge has none", () => {
    expect(vipTasks([task("t1", "s1", 1, "failed", "shutdown")], names, addresses).size).toBe(0);
    expect(vipTasks([task("t9", "s1", 1, "running")], names, addresses).get("s1")?.[0]?.address).toBeUndefined();
  });

  it("describes a task set by name, task id and digest", () => {
    const set = vipTasks([task("t1abcdefghijk", "s1", 1, "running")], names, new Map());
    expect(describeTasks(set.get("s1")!)).toBe(`shop.1(t1abcdefgh)@sha256:${"a".repeat(12)}`);
    expect(describeTasks([])).toBe("no task");
  });
});

describe("servingTasksIn and historyOf", () => {
  const table = buildSwarmRoutingTable([service("s1", "shop", agentLabels("shop", "shop.test"))], NETS);
  const names = new Map([["s1", "shop"]]);
  const v1 = vipTasks([task("t1", "s1", 1, "running")], names, new Map([["c-t1", "10.239.1.3"]]));
  const v2image = `acme/web@sha256:${"b".repeat(64)}`;
  const v2 = vipTasks([task("t2", "s1", 1, "running", "running", v2image)], names, new Map([["c-t2", "10.239.1.4"]]));

  it("follows the host's router to its virtual IP's tasks; undefined for a host no router takes", () => {
    expect(servingTasksIn(table, v1, "shop.test")?.map((t) => t.taskId)).toEqual(["t1"]);
    expect(servingTasksIn(table, new Map(), "shop.test")).toEqual([]);
    expect(servingTasksIn(table, v1, "other.test")).toBeUndefined();
  });

  it("writes a line for each change of what serves the host, and each failed refresh, in time order", () => {
    const at = Date.UTC(2026, 0, 1, 12, 0, 0);
    const text = historyOf(
      [
        { at: at + 500, kind: "vip", serviceId: "s1", tasks: v2.get("s1")! },
        { at, kind: "vip", serviceId: "s1", tasks: v1.get("s1")! },
        { at, kind: "table", table },
        { at: at + 200, kind: "error", error: "task refresh: Error: socket hang up" },
        { at: at + 700, kind: "table", table },
        { at: at + 900, kind: "vip", serviceId: "s1", tasks: [] },
      ],
      "shop.test",
    );
    expect(text).toBe(
      [
        "swarm routing model, shop.test:",
        `  12:00:00.000 shop.test: router shop → shop.1(t1)@sha256:${"a".repeat(12)}`,
        "  12:00:00.200 task refresh: Error: socket hang up",
        `  12:00:00.500 shop.test: router shop → shop.1(t2)@sha256:${"b".repeat(12)}`,
        "  12:00:00.900 shop.test: router shop → no task",
      ].join("\n"),
    );
  });
});
