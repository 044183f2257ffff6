// The pure parts of roles: a role container's create options, its health check, and which
// containers the role label makes web's, a role's, a probe's or a one-off's.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../agent/config/load.js";
import { roleCreateOptions, roleHealthcheck } from "../../agent/deploy/role-plan.js";
import { greenCreateOptions } from "../../agent/deploy/plan.js";
import { appRoleOf } from "../../agent/labels.js";

const config = parseConfig(`apps:
  shop:
    image: ghcr.io/acme/shop
    port: 8000
    health: { path: /health }
    route: { rule: Host(\`shop.example\`), network: web }
    networks: [db]
    command: ["bin/web"]
    env: { QUEUE: main, DB: postgres }
    volumes: ["/srv/shop:/data"]
    labels: { team: shop }
    roles:
      worker:
        command: ["bin/jobs"]
        health: { command: "test -f /tmp/worker-alive", startTimeout: 20s, interval: 2s }
        env: { QUEUE: default }
      scheduler:
        overlap: false
`);
const shop = config.apps.shop!;
const release = { deployId: "7", version: "v2", digest: "sha256:" + "a".repeat(64), imageRef: "ghcr.io/acme/shop@sha256:" + "a".repeat(64) };

describe("a role container's create options", () => {
  const worker = roleCreateOptions("shop", shop, "worker", shop.roles.worker!, "green", 4, release, { SECRET: "s", QUEUE: "file" });

  it("is named <app>-<role>-<slot> and carries the release's labels, the role label and no router", () => {
    expect(worker.name).toBe("shop-worker-green");
    expect(worker.Labels).toEqual({
      team: "shop",
      "traefik.enable": "false",
      "deploy-agent.managed": "true",
      "deploy-agent.app": "shop",
      "deploy-agent.slot": "green",
      "deploy-agent.generation": "4",
      "deploy-agent.version": "v2",
      "deploy-agent.digest": release.digest,
      "deploy-agent.deploy-id": "7",
      "deploy-agent.role": "worker",
    });
    expect(worker.ExposedPorts).toEqual({});
  });

  it("runs the same image by digest with the app's volumes, networks and init, and restart no until it serves", () => {
    const web = greenCreateOptions("shop", shop, "green", 4, release, { Test: [], Interval: 0, Timeout: 0, StartPeriod: 0, Retries: 0 });
    expect(worker.Image).toBe(web.Image);
    expect(worker.HostConfig).toEqual({ ...web.HostConfig, NetworkMode: "web" });
    expect(worker.NetworkingConfig).toEqual({ EndpointsConfig: { web: {} } });
    expect(worker.HostConfig.RestartPolicy).toEqual({ Name: "no" });
  });

  it("merges the role's env over the app's, which wins over the env file", () => {
    expect(worker.Env.sort()).toEqual(["DB=postgres", "QUEUE=default", "SECRET=s"]);
  });

  it("takes the role's command, else the app's", () => {
    expect(worker.Cmd).toEqual(["bin/jobs"]);
    expect(roleCreateOptions("shop", shop, "scheduler", shop.roles.scheduler!, "blue", 1, release).Cmd).toEqual(["bin/web"]);
    const noCommand = { ...shop, command: undefined };
    expect(roleCreateOptions("shop", noCommand, "scheduler", shop.roles.scheduler!, "blue", 1, release)).not.toHaveProperty("Cmd");
  });
});

describe("a role's health check", () => {
  it("runs the role's command in a shell with its interval and start period", () => {
    expect(roleHealthcheck(shop.roles.worker!)).toEqual({ Test: ["CMD-SHELL", "test -f /tmp/worker-alive"], Interval: 2e9, Timeout: 10e9, StartPeriod: 20e9, Retries: 3 });
  });

  it("switches the image's own health check off when the role has none, so the role is judged by its process", () => {
    expect(roleHealthcheck(shop.roles.scheduler!).Test).toEqual(["NONE"]);
  });
});

describe("the role label", () => {
  it("names an app role, and nothing for web, probes and one-offs", () => {
    expect(appRoleOf({ "deploy-agent.role": "worker" })).toBe("worker");
    expect(appRoleOf({})).toBeUndefined();
    expect(appRoleOf({ "deploy-agent.role": "probe" })).toBeUndefined();
    expect(appRoleOf({ "deploy-agent.role": "predeploy" })).toBeUndefined();
    expect(appRoleOf({ "deploy-agent.role": "postdeploy" })).toBeUndefined();
  });
});
