// The first hour's files agree: examples/traefik/compose.yaml, the README quick start's `docker run`
// line and config, and the example agent.yaml that install.sh writes all use the same network,
// entrypoints, certificate resolver, API port and app port, and each config parses as written; and no
// dependency's install script runs, or warns, at install.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { parseConfig } from "../../agent/config/load.js";
import type { Config } from "../../agent/config/schema.js";
import { installExampleConfig } from "../support/example-configs.js";

const ROOT = join(import.meta.dirname, "../..");
const read = (path: string) => readFileSync(join(ROOT, path), "utf8");

interface ComposeService {
  image: string;
  command: string[];
  ports: string[];
  volumes: string[];
  networks: string[];
}
const compose = parse(read("examples/traefik/compose.yaml")) as {
  services: { traefik: ComposeService };
  networks: Record<string, { external?: boolean }>;
};
const traefik = compose.services.traefik;

const readme = read("README.md");
const quickStart = readme.slice(readme.indexOf("## Quick start"), readme.indexOf("## agentctl"));

/** The `--flag=value` options of Traefik's static configuration, by flag. */
function flags(args: string[]): Map<string, string> {
  return new Map(args.filter((a) => a.startsWith("--")).map((a) => [a.slice(2, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]));
}
const composeFlags = flags(traefik.command);

/** The text of example_config's heredoc in install.sh. */
function exampleConfig(): string {
  const body = installExampleConfig();
  expect(body, "install.sh has example_config() { cat <<'EOF' … EOF }").toBeDefined();
  return body!;
}

/** What must agree with Traefik's side, read from one agent config. */
function names(c: Config) {
  const app = Object.values(c.apps)[0]!;
  return {
    api: c.traefik.api,
    port: app.port,
    network: app.route?.network,
    entrypoints: app.route?.entrypoints,
    certresolver: app.route?.certresolver,
  };
}

describe("examples/traefik/compose.yaml", () => {
  it("runs Traefik v3 with the docker provider, on the shared external network, routing only labelled containers", () => {
    expect(traefik.image).toMatch(/^traefik:v3(\b|$)/);
    expect(composeFlags.get("providers.docker")).toBe("true");
    expect(composeFlags.get("providers.docker.exposedByDefault")).toBe("false");
    const network = composeFlags.get("providers.docker.network")!;
    expect(traefik.networks).toEqual([network]);
    expect(compose.networks[network]).toEqual({ external: true });
    expect(traefik.volumes).toContain("/var/run/docker.sock:/var/run/docker.sock:ro");
  });

  it("has web on :80 redirecting to websecure on :443, a Let's Encrypt resolver with its acme.json on a volume, and the API on loopback only", () => {
    expect(composeFlags.get("entryPoints.web.address")).toBe(":80");
    expect(composeFlags.get("entryPoints.web.http.redirections.entryPoint.to")).toBe("websecure");
    expect(composeFlags.get("entryPoints.web.http.redirections.entryPoint.scheme")).toBe("https");
    expect(composeFlags.get("entryPoints.websecure.address")).toBe(":443");
    expect(composeFlags.get("certificatesResolvers.le.acme.email")).toMatch(/@example\.com$/);
    expect(composeFlags.get("certificatesResolvers.le.acme.httpChallenge.entryPoint")).toBe("web");
    const storage = composeFlags.get("certificatesResolvers.le.acme.storage")!;
    expect(storage).toMatch(/\/acme\.json$/);
    expect(traefik.volumes.some((v) => v.endsWith(`:${storage.slice(0, storage.lastIndexOf("/"))}`))).toBe(true);
    expect(composeFlags.get("api.insecure")).toBe("true");
    expect(traefik.ports).toEqual(["80:80", "443:443", "127.0.0.1:8080:8080"]);
  });

  it("cites Traefik's documentation for each part it configures", () => {
    const text = read("examples/traefik/compose.yaml");
    for (const page of ["providers/docker/", "routing/entrypoints/", "https/acme/", "operations/api/"]) {
      expect(text).toContain(`https://doc.traefik.io/traefik/${page}`);
    }
  });
});

describe("the README quick start", () => {
  it("runs the same Traefik with docker run as the compose example: image, flags, ports, volumes and network", () => {
    const line = quickStart.split("\n").find((l) => l.trim().startsWith("docker run"));
    expect(line).toBeDefined();
    const words = line!.trim().split(/\s+/);
    const image = words.find((w) => w.startsWith("traefik:"))!;
    expect(image).toBe(traefik.image);
    const after = words.slice(words.indexOf(image) + 1);
    expect(flags(after)).toEqual(composeFlags);
    const opt = (name: string) => words.flatMap((w, i) => (w === name ? [words[i + 1]] : []));
    expect(opt("-p")).toEqual(traefik.ports);
    expect(opt("--network")).toEqual(traefik.networks);
    expect(opt("-v")[0]).toBe(traefik.volumes[0]);
    expect(quickStart).toContain(`docker network create ${traefik.networks[0]}`);
  });

  it("has an agent config that parses and uses exactly the names of install.sh's example config", () => {
    const block = /```yaml\n([\s\S]*?)```/.exec(quickStart)?.[1];
    expect(block).toBeDefined();
    const readmeNames = names(parseConfig(block!.replace(/^ {3}/gm, ""), "README quick start"));
    expect(readmeNames).toEqual(names(parseConfig(exampleConfig(), "install.sh example_config")));
  });
});

describe("install.sh's example agent.yaml", () => {
  it("parses, and routes through the compose example's network, entrypoint, certificate resolver and loopback API port", () => {
    const n = names(parseConfig(exampleConfig(), "install.sh example_config"));
    expect(n).toMatchObject({ port: 8000, network: "web", entrypoints: ["websecure"], certresolver: "le" });
    expect(n.network).toBe(composeFlags.get("providers.docker.network"));
    for (const ep of n.entrypoints!) expect(composeFlags.has(`entryPoints.${ep}.address`)).toBe(true);
    expect(composeFlags.has(`certificatesResolvers.${n.certresolver!}.acme.storage`)).toBe(true);
    const api = new URL(n.api!);
    expect(traefik.ports).toContain(`${api.hostname}:${api.port}:8080`);
  });
});

describe("package.json", () => {
  it("decides for every locked dependency with an install script whether it may run, and denies them all", () => {
    // npm 11 warns at install about each such package that allowScripts does not cover
    // (npm help install-scripts); the agent uses none of them (ssh2 and its native helpers serve
    // dockerode's ssh transport; the agent talks to the Engine's Unix socket).
    const lock = JSON.parse(read("package-lock.json")) as { packages: Record<string, { hasInstallScript?: boolean }> };
    const withScripts = Object.entries(lock.packages)
      .filter(([, p]) => p.hasInstallScript === true)
      .map(([path]) => path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length))
      .sort();
    expect(withScripts).toContain("ssh2");
    const pkg = JSON.parse(read("package.json")) as { allowScripts?: Record<string, boolean> };
    expect(pkg.allowScripts).toEqual(Object.fromEntries(withScripts.map((name) => [name, false])));
  });
});
