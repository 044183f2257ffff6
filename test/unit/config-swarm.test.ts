// `backend`, `replicas` and `placement` in agent.yaml (config/swarm.ts): the keys a Swarm app has,
// the constraints Swarm would refuse or never match, and each key refused with the wrong backend,
// named with its path and line.
import { describe, expect, it } from "vitest";
import { checkConfigText, parseConfig } from "../../agent/config/load.js";
import { parseConstraint, pinsOneNode } from "../../agent/config/swarm.js";
import { appYaml, configProblems } from "../support/config-text.js";

const swarm = (extra: string) => appYaml(`    backend: swarm\n${extra}`);

/** The problem lines of a refused config, without its headline. */
const lines = (yaml: string) => configProblems(yaml).split("\n").slice(1).map((l) => l.trim());

describe("backend, replicas and placement", () => {
  it("keeps today's containers when backend is left out, with one replica and no placement", () => {
    expect(parseConfig(appYaml("")).apps.web).toMatchObject({ backend: "container", replicas: 1, placement: [] });
  });

  it("reads a Swarm app with its replicas and constraints as written", () => {
    const c = parseConfig(swarm('    replicas: 3\n    placement: ["node.role==worker", "node.labels.zone != eu-1", "engine.labels.disk == ssd"]\n'));
    expect(c.apps.web).toMatchObject({ backend: "swarm", replicas: 3, placement: ["node.role==worker", "node.labels.zone != eu-1", "engine.labels.disk == ssd"] });
  });

  it("refuses another backend, naming the two there are", () => {
    expect(lines(appYaml("    backend: kubernetes\n"))).toEqual(['apps.web.backend: expected "container" (blue and green containers on this host) or "swarm" (a Swarm service) (agent.yaml line 6)']);
  });

  it("refuses replicas outside 1 to 100 or not whole", () => {
    expect(lines(swarm("    replicas: 0\n"))).toEqual(["apps.web.replicas: must be at least 1 task (agent.yaml line 7)"]);
    expect(lines(swarm("    replicas: 101\n"))).toEqual(["apps.web.replicas: must be at most 100 tasks (agent.yaml line 7)"]);
    expect(lines(swarm("    replicas: 1.5\n"))).toEqual(["apps.web.replicas: must be a whole number of tasks, 1 to 100 (agent.yaml line 7)"]);
    expect(lines(swarm('    replicas: "2"\n'))).toEqual(["apps.web.replicas: expected a number of tasks, 1 to 100 (agent.yaml line 7)"]);
  });

  it("refuses replicas and placement on a container app, each named and sent to backend: swarm", () => {
    expect(lines(appYaml('    replicas: 2\n    placement: ["node.role == worker"]\n'))).toEqual([
      "apps.web.replicas: needs backend: swarm (a container app runs one container per slot); set backend: swarm, or leave replicas out (agent.yaml line 6)",
      "apps.web.placement: needs backend: swarm (a container app runs one container per slot); set backend: swarm, or leave placement out (agent.yaml line 7)",
    ]);
    expect(lines(appYaml("    backend: container\n    replicas: 1\n"))).toEqual([
      "apps.web.replicas: needs backend: swarm (a container app runs one container per slot); set backend: swarm, or leave replicas out (agent.yaml line 7)",
    ]);
  });
});

describe("placement constraints", () => {
  it.each([
    ["node.role==worker", { attribute: "node.role", operator: "==", value: "worker" }],
    ["node.hostname != box1", { attribute: "node.hostname", operator: "!=", value: "box1" }],
    ["Node.Platform.Arch == arm64", { attribute: "Node.Platform.Arch", operator: "==", value: "arm64" }],
    ["node.ip == 10.0.0.0/24", { attribute: "node.ip", operator: "==", value: "10.0.0.0/24" }],
    ["node.labels.zone == eu-1", { attribute: "node.labels.zone", operator: "==", value: "eu-1" }],
  ])("reads %s as Swarm does", (text, want) => {
    expect(parseConstraint(text)).toEqual(want);
  });

  it("names each bad constraint by its place in the list, with what Swarm takes", () => {
    const yaml = swarm('    placement: ["node.role=worker", "node.rack == 3", "node.role == boss", "node.ip == 10.0.0.300", "node.labels.zone == eu,us", "node.labels. == x"]\n');
    expect(lines(yaml)).toEqual([
      'apps.web.placement.0: "node.role=worker": expected "<attribute> == <value>" or "<attribute> != <value>", such as "node.role == worker" (agent.yaml line 7)',
      'apps.web.placement.1: "node.rack == 3": unknown attribute "node.rack": Swarm places by node.id, node.hostname, node.ip, node.role, node.platform.os, node.platform.arch, node.labels.<label> and engine.labels.<label> (on any other a service runs nowhere) (agent.yaml line 7)',
      'apps.web.placement.2: "node.role == boss": node.role is "manager" or "worker", not "boss" (agent.yaml line 7)',
      'apps.web.placement.3: "node.ip == 10.0.0.300": node.ip takes an address or a network such as 10.0.0.0/24, not "10.0.0.300" (agent.yaml line 7)',
      'apps.web.placement.4: "node.labels.zone == eu,us": Swarm refuses the value "eu,us": letters, digits, spaces and : - _ . * ( ) ? + [ ] \\ ^ $ | / only (agent.yaml line 7)',
      'apps.web.placement.5: "node.labels. == x": unknown attribute "node.labels.": Swarm places by node.id, node.hostname, node.ip, node.role, node.platform.os, node.platform.arch, node.labels.<label> and engine.labels.<label> (on any other a service runs nowhere) (agent.yaml line 7)',
    ]);
  });

  it("counts a service as held to one node only by node.id, node.hostname or a single node.ip with ==", () => {
    expect(pinsOneNode(["node.hostname == box1"])).toBe(true);
    expect(pinsOneNode(["node.role == worker", "node.id==p3x9"])).toBe(true);
    expect(pinsOneNode(["node.ip == 192.168.1.7"])).toBe(true);
    expect(pinsOneNode(["node.ip == 192.168.1.0/24"])).toBe(false);
    expect(pinsOneNode(["node.hostname != box1", "node.role == manager"])).toBe(false);
    expect(pinsOneNode(["node.hostname = box1"])).toBe(false);
  });
});

describe("keys a Swarm service has no use for", () => {
  it("refuses each one that is written, naming the key and why", () => {
    const yaml = swarm("    restart: always\n    watch: 5m\n    drain: 10s\n    settle: 3s\n    keep: 3\n").replace("health: { path: /health }", "health: { path: /health, successes: 3 }");
    expect(lines(yaml)).toEqual([
      "apps.web.restart: means nothing with backend: swarm (Swarm restarts a service's tasks itself); leave it out (agent.yaml line 7)",
      "apps.web.watch: means nothing with backend: swarm (Swarm watches each new task for the update's monitor period and rolls the service back by itself; no stopped release is kept to go back to); leave it out (agent.yaml line 8)",
      "apps.web.drain: means nothing with backend: swarm (Swarm takes a task out of the service's virtual IP before it stops it, and stopTimeout is the time it then gives its requests); leave it out (agent.yaml line 9)",
      "apps.web.settle: means nothing with backend: swarm (Traefik sends to the service's virtual IP, which Swarm points at healthy tasks itself: there is no switch in Traefik to wait for); leave it out (agent.yaml line 10)",
      "apps.web.keep: means nothing with backend: swarm (each node pulls the release it runs from the registry by digest, so images kept on this host do not reach the others); leave it out (agent.yaml line 11)",
      "apps.web.health.successes: means nothing with backend: swarm (Swarm judges a task by its Docker health check alone; the agent's own probe, which this counts, cannot reach a task on an overlay network); leave it out (agent.yaml line 5)",
    ]);
  });

  it("accepts the keys a service uses: route, env, command, init, stopTimeout, networks, labels, roles and the release steps", () => {
    const c = parseConfig(
      swarm(`    route: { rule: "Host(\`example.com\`)", network: web }
    env: { A: "1" }
    command: [bin/web]
    init: false
    stopTimeout: 20s
    networks: [db]
    labels: { team: shop }
    unsafeVolumes: false
    predeploy: { command: [bin/migrate] }
    roles: { worker: { command: [bin/jobs], overlap: false } }
`),
    );
    expect(c.apps.web).toMatchObject({ backend: "swarm", stopTimeout: 20_000, networks: ["db"], roles: { worker: { overlap: false } } });
  });

  it("takes named and anonymous volumes, and a bind mount only on a service held to one node", () => {
    expect(parseConfig(swarm('    volumes: ["data:/data", "/cache", "cfg:/etc/app:ro"]\n')).apps.web!.volumes).toHaveLength(3);
    expect(parseConfig(swarm('    volumes: ["/srv/web:/data"]\n    placement: ["node.hostname == box1"]\n')).apps.web!.volumes).toEqual(["/srv/web:/data"]);
    expect(lines(swarm('    volumes: ["/srv/web:/data"]\n    placement: ["node.role == worker"]\n'))).toEqual([
      'apps.web.volumes.0: "/srv/web:/data" binds a folder of whichever node runs the task; pin the service to one node with placement (such as "node.hostname == box1"), or use a named volume ("data:/data"), which each node keeps for itself (agent.yaml line 7)',
    ]);
  });

  it("refuses mount options other than ro and rw, which a service's mounts cannot say", () => {
    expect(lines(swarm('    volumes: ["data:/data:ro,z", "logs:/logs:rw"]\n'))).toEqual([
      'apps.web.volumes.0: "data:/data:ro,z": a Swarm service\'s mounts take ro or rw here, not "z" (agent.yaml line 7)',
    ]);
  });

  it("refuses an app or role whose service name Swarm would refuse", () => {
    const role = "r".repeat(60);
    expect(lines(`apps:\n  web-:\n    image: ghcr.io/acme/web\n    port: 8000\n    health: { path: /health }\n    backend: swarm\n    roles: { ${role}: {} }\n`)).toEqual([
      'apps.web-: with backend: swarm this names the Swarm service "web-", and Swarm takes at most 63 letters, digits, - and _, ending with a letter or digit; rename it (agent.yaml line 3)',
      `apps.web-.roles.${role}: with backend: swarm this names the Swarm service "web--${role}", and Swarm takes at most 63 letters, digits, - and _, ending with a letter or digit; rename it (agent.yaml line 7)`,
    ]);
  });

  it("leaves the keys a container app has alone: restart, watch and the rest stay as they were", () => {
    expect(parseConfig(appYaml("    restart: always\n    watch: 5m\n    keep: 5\n")).apps.web).toMatchObject({ backend: "container", restart: "always", watch: 300_000, keep: 5 });
  });
});

describe("a Swarm app where the daemon starts", () => {
  it("passes the daemon's and --check's checks beside a container app", () => {
    const yaml = `${swarm("")}  api:\n    image: ghcr.io/acme/api\n    port: 8000\n    health: { path: /health }\n`;
    for (const mode of ["daemon", "check"] as const) expect(checkConfigText(yaml, "/etc/deploy-agent/agent.yaml", { env: {}, mode }).errors).toEqual([]);
  });

  it("takes the release steps, which run in a one-off container on this host, on the app's networks", () => {
    const yaml = swarm("    predeploy: { command: [migrate] }\n    postdeploy: { command: [warm] }\n");
    expect(checkConfigText(yaml, "/etc/deploy-agent/agent.yaml", { env: {}, mode: "daemon" }).errors).toEqual([]);
  });
});
