import { describe, expect, it } from "vitest";
import { parseConfig } from "../../agent/config/load.js";
import { parseEnvFile } from "../../agent/config/env-file.js";
import { greenCreateOptions, greenSlot } from "../../agent/deploy/plan.js";
import { traefikLabels } from "../../agent/traefik/labels.js";

const config = parseConfig(`apps:
  web:
    image: ghcr.io/acme/web
    port: 8000
    health: { path: /health }
    route:
      rule: Host(\`example.com\`)
      entrypoints: [websecure]
      certresolver: le
      middlewares: [retry]
      network: web
    stopTimeout: 15s
    env: { LOG_LEVEL: info, WORKERS: 2 }
    volumes: ["/srv/web/data:/data"]
    labels: { team: blue-team }
`);
const web = config.apps.web!;

describe("traefik labels", () => {
  it("gives each slot its own router and explicit service, newest generation highest", () => {
    expect(traefikLabels("web", "green", 7, 8000, web.route!)).toEqual({
      "traefik.enable": "true",
      "traefik.docker.network": "web",
      "traefik.http.routers.web-green.rule": "Host(`example.com`)",
      "traefik.http.routers.web-green.entrypoints": "websecure",
      "traefik.http.routers.web-green.priority": "1000007",
      "traefik.http.routers.web-green.service": "web-green",
      "traefik.http.routers.web-green.tls.certresolver": "le",
      "traefik.http.routers.web-green.middlewares": "retry",
      "traefik.http.services.web-green.loadbalancer.server.port": "8000",
    });
  });

  it("never shares a router name between blue and green", () => {
    const blue = Object.keys(traefikLabels("web", "blue", 1, 8000, web.route!)).filter((k) => k.startsWith("traefik.http."));
    const green = Object.keys(traefikLabels("web", "green", 2, 8000, web.route!)).filter((k) => k.startsWith("traefik.http."));
    expect(blue.filter((k) => green.includes(k))).toEqual([]);
  });
});

describe("green create options", () => {
  it("builds the exact container spec for a slot", () => {
    const hc = { Test: ["CMD", "/bin/wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8000/health"], Interval: 1e9, Timeout: 3e9, StartPeriod: 6e10, Retries: 3 };
    const opts = greenCreateOptions("web", web, "green", 7, { deployId: "12", version: "v1.2.0", digest: "sha256:" + "a".repeat(64), imageRef: "ghcr.io/acme/web@sha256:" + "a".repeat(64) }, hc, {
      FROM_FILE: "1",
      LOG_LEVEL: "debug",
    });
    expect(opts).toEqual({
      name: "web-green",
      Image: "ghcr.io/acme/web@sha256:" + "a".repeat(64),
      Labels: {
        team: "blue-team",
        ...traefikLabels("web", "green", 7, 8000, web.route!),
        "deploy-agent.managed": "true",
        "deploy-agent.app": "web",
        "deploy-agent.slot": "green",
        "deploy-agent.generation": "7",
        "deploy-agent.version": "v1.2.0",
        "deploy-agent.digest": "sha256:" + "a".repeat(64),
        "deploy-agent.deploy-id": "12",
      },
      // The config's env wins over the env file's.
      Env: ["FROM_FILE=1", "LOG_LEVEL=info", "WORKERS=2"],
      ExposedPorts: { "8000/tcp": {} },
      Healthcheck: hc,
      StopTimeout: 15,
      HostConfig: { Init: true, Binds: ["/srv/web/data:/data"], RestartPolicy: { Name: "no" }, NetworkMode: "web" },
      NetworkingConfig: { EndpointsConfig: { web: {} } },
    });
  });

  it("takes blue first, then alternates", () => {
    expect(greenSlot(undefined)).toBe("blue");
    expect(greenSlot({ slot: "blue" })).toBe("green");
    expect(greenSlot({ slot: "green" })).toBe("blue");
  });
});

describe("env files", () => {
  it("reads KEY=VALUE lines as docker --env-file does", () => {
    expect(parseEnvFile("# comment\nA=1\n\nB = two words\nC=x=y\n", "web.env")).toEqual({ env: { A: "1", B: " two words", C: "x=y" }, problems: [] });
  });

  it("names each line that is not KEY=VALUE or whose name is not a variable name", () => {
    expect(parseEnvFile("A=1\noops\n9X=2\n", "/etc/deploy-agent/web.env")).toEqual({
      env: { A: "1" },
      problems: [
        "/etc/deploy-agent/web.env line 2: expected KEY=VALUE",
        '/etc/deploy-agent/web.env line 3: "9X" is not a valid variable name (letters, digits and _, not starting with a digit)',
      ],
    });
  });
});
