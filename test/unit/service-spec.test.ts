// The ServiceSpec of a `backend: swarm` app's web and roles (docker/service-spec.ts,
// deploy/service-plan.ts): the exact body the Engine gets, its labels, and what differs per role.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../agent/config/load.js";
import { serviceMount } from "../../agent/docker/service-spec.js";
import { monitorMs, roleServiceSpec, webServiceSpec } from "../../agent/deploy/service-plan.js";
import { roleCreateOptions } from "../../agent/deploy/role-plan.js";
import { swarmTraefikLabels, traefikLabels } from "../../agent/traefik/labels.js";

const config = parseConfig(`apps:
  shop:
    backend: swarm
    replicas: 3
    placement: ["node.role == worker", "node.labels.zone != eu-2"]
    image: ghcr.io/acme/shop
    port: 8000
    health: { path: /health, startTimeout: 30s, interval: 2s }
    route:
      rule: Host(\`shop.example\`)
      entrypoints: [websecure]
      certresolver: le
      middlewares: [retry@file]
      network: web
    networks: [db, web]
    command: ["bin/web"]
    stopTimeout: 20s
    env: { QUEUE: main, DB: postgres }
    volumes: ["shop-data:/data", "/cache", "uploads:/uploads:ro"]
    labels: { team: shop }
    roles:
      worker:
        command: ["bin/jobs"]
        health: { command: "test -f /tmp/worker-alive", startTimeout: 20s, interval: 1s }
        env: { QUEUE: default }
      scheduler:
        overlap: false
`);
const shop = config.apps.shop!;
const digest = "sha256:" + "a".repeat(64);
const release = { deployId: "42", version: "v2.1.0", digest, generation: 9 };
/** The labels every service of this release carries, whatever its role. */
const RELEASE_LABELS = {
  "deploy-agent.managed": "true",
  "deploy-agent.app": "shop",
  "deploy-agent.version": "v2.1.0",
  "deploy-agent.digest": digest,
  "deploy-agent.deploy-id": "42",
  "deploy-agent.generation": "9",
};
const hc = { Test: ["CMD", "/usr/bin/curl", "-fsS", "-o", "/dev/null", "--max-time", "2", "http://127.0.0.1:8000/health"], Interval: 2e9, Timeout: 10e9, StartPeriod: 30e9, Retries: 3 };

describe("web's service", () => {
  it("is the exact ServiceSpec: image by digest, env, mounts, networks, placement, replicas, and start-first updates that roll back", () => {
    expect(webServiceSpec("shop", shop, release, hc, { SECRET: "s", QUEUE: "file" })).toEqual({
      Name: "shop",
      Labels: {
        team: "shop",
        "traefik.enable": "true",
        "traefik.docker.network": "web",
        "traefik.docker.lbswarm": "true",
        "traefik.http.routers.shop.rule": "Host(`shop.example`)",
        "traefik.http.routers.shop.entrypoints": "websecure",
        "traefik.http.routers.shop.priority": "1000009",
        "traefik.http.routers.shop.service": "shop",
        "traefik.http.routers.shop.tls.certresolver": "le",
        "traefik.http.routers.shop.middlewares": "retry@file",
        "traefik.http.services.shop.loadbalancer.server.port": "8000",
        ...RELEASE_LABELS,
      },
      TaskTemplate: {
        ContainerSpec: {
          Image: `ghcr.io/acme/shop@${digest}`,
          Labels: { team: "shop", "traefik.enable": "false" },
          Args: ["bin/web"],
          // The config's env wins over the env file's.
          Env: ["SECRET=s", "QUEUE=main", "DB=postgres"],
          Init: true,
          StopGracePeriod: 20e9,
          HealthCheck: hc,
          Mounts: [
            { Type: "volume", Source: "shop-data", Target: "/data", ReadOnly: false },
            { Type: "volume", Target: "/cache", ReadOnly: false },
            { Type: "volume", Source: "uploads", Target: "/uploads", ReadOnly: true },
          ],
        },
        Placement: { Constraints: ["node.role == worker", "node.labels.zone != eu-2"] },
        Networks: [{ Target: "web" }, { Target: "db" }],
        // The generation: each deploy replaces the tasks.
        ForceUpdate: 9,
      },
      Mode: { Replicated: { Replicas: 3 } },
      // 30 s to start, then three 2 s probes: 36 s.
      UpdateConfig: { Parallelism: 1, Delay: 0, FailureAction: "rollback", Monitor: 36e9, MaxFailureRatio: 0, Order: "start-first" },
      RollbackConfig: { Parallelism: 1, Delay: 0, FailureAction: "pause", Monitor: 36e9, MaxFailureRatio: 0, Order: "start-first" },
      EndpointSpec: { Mode: "vip" },
    });
  });

  it("carries the release labels a container of the same release carries, less its slot", () => {
    const container = roleCreateOptions("shop", shop, "worker", shop.roles.worker!, "green", 9, { ...release, imageRef: `ghcr.io/acme/shop@${digest}` });
    const service = roleServiceSpec("shop", shop, "worker", shop.roles.worker!, release);
    const { "deploy-agent.slot": slot, ...rest } = container.Labels;
    expect(slot).toBe("green");
    expect(service.Labels).toEqual(rest);
  });

  it("has no router without a route, and the image's own command without command", () => {
    const plain = parseConfig("apps:\n  api:\n    backend: swarm\n    image: acme/api\n    port: 9000\n    health: { path: /h }\n").apps.api!;
    const spec = webServiceSpec("api", plain, release, hc);
    expect(Object.keys(spec.Labels).filter((k) => k.startsWith("traefik."))).toEqual([]);
    expect(spec.TaskTemplate.ContainerSpec).not.toHaveProperty("Args");
    expect(spec.TaskTemplate).toMatchObject({ ContainerSpec: { Image: `acme/api@${digest}`, Env: [], Mounts: [] }, Placement: { Constraints: [] }, Networks: [] });
    expect(spec.Mode).toEqual({ Replicated: { Replicas: 1 } });
  });
});

describe("a role's service", () => {
  it("is <app>-<role> with the role label, no router, its command, health check and env over the app's", () => {
    const worker = roleServiceSpec("shop", shop, "worker", shop.roles.worker!, release, { SECRET: "s", QUEUE: "file" });
    expect(worker.Name).toBe("shop-worker");
    expect(worker.Labels).toEqual({
      team: "shop",
      "traefik.enable": "false",
      ...RELEASE_LABELS,
      "deploy-agent.role": "worker",
    });
    expect(worker.TaskTemplate.ContainerSpec).toMatchObject({
      Args: ["bin/jobs"],
      Env: ["SECRET=s", "QUEUE=default", "DB=postgres"],
      HealthCheck: { Test: ["CMD-SHELL", "test -f /tmp/worker-alive"], Interval: 1e9, Timeout: 10e9, StartPeriod: 20e9, Retries: 3 },
    });
    expect(worker.Mode).toEqual({ Replicated: { Replicas: 3 } });
    expect(worker.UpdateConfig).toEqual({ Parallelism: 1, Delay: 0, FailureAction: "rollback", Monitor: 23e9, MaxFailureRatio: 0, Order: "start-first" });
  });

  it("runs a role with overlap: false as one task, updated and rolled back stop first, without a health check, watched 10 s", () => {
    const scheduler = roleServiceSpec("shop", shop, "scheduler", shop.roles.scheduler!, release);
    expect(scheduler.Name).toBe("shop-scheduler");
    expect(scheduler.Mode).toEqual({ Replicated: { Replicas: 1 } });
    expect(scheduler.TaskTemplate.ContainerSpec).toMatchObject({ Args: ["bin/web"], HealthCheck: { Test: ["NONE"] } });
    expect(scheduler.UpdateConfig).toMatchObject({ Order: "stop-first", Monitor: 10e9, FailureAction: "rollback" });
    expect(scheduler.RollbackConfig).toMatchObject({ Order: "stop-first", Monitor: 10e9, FailureAction: "pause" });
  });

  it("shares the image, mounts, networks, placement and stop grace period with web's", () => {
    const web = webServiceSpec("shop", shop, release, hc);
    const worker = roleServiceSpec("shop", shop, "worker", shop.roles.worker!, release);
    const shared = (s: typeof web) => ({ ...s.TaskTemplate, ContainerSpec: { Image: s.TaskTemplate.ContainerSpec.Image, Mounts: s.TaskTemplate.ContainerSpec.Mounts, StopGracePeriod: s.TaskTemplate.ContainerSpec.StopGracePeriod, Init: s.TaskTemplate.ContainerSpec.Init } });
    expect(shared(worker)).toEqual(shared(web));
  });
});

describe("the parts", () => {
  it("reads volumes entries as mounts: bind, named, anonymous, read-only", () => {
    expect(serviceMount("/srv/shop:/data:ro")).toEqual({ Type: "bind", Source: "/srv/shop", Target: "/data", ReadOnly: true });
    expect(serviceMount("data:/data:rw")).toEqual({ Type: "volume", Source: "data", Target: "/data", ReadOnly: false });
    expect(serviceMount("/scratch")).toEqual({ Type: "volume", Target: "/scratch", ReadOnly: false });
  });

  it("monitors a new task for its start timeout and three probes", () => {
    expect(monitorMs({ startTimeout: 60_000, interval: 1_000 })).toBe(63_000);
  });

  it("gives the Swarm router the same fields as a slot's, with lbswarm, one name and no slot", () => {
    const route = shop.route!;
    const strip = (labels: Record<string, string>, name: string) =>
      Object.fromEntries(Object.entries(labels).map(([k, v]) => [k.replace(`.${name}.`, ".NAME."), v === name ? "NAME" : v]));
    const slot = strip(traefikLabels("shop", "blue", 9, 8000, route), "shop-blue");
    const swarm = strip(swarmTraefikLabels("shop", 9, 8000, route), "shop");
    expect(swarm).toEqual({ ...slot, "traefik.docker.lbswarm": "true" });
  });
});
