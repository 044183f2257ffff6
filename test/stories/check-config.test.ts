// `deploy-agent --check --config FILE`, as an operator runs it before a restart: a summary of the
// apps and exit 0, or every problem and exit 78, and in either case no Engine, no control socket,
// no file written.
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { makeAgentDir, removeDir, writeConfig } from "../support/agent.js";
import { runDaemon } from "../support/daemon-run.js";
import { countingSocket } from "../support/listening-socket.js";

const dir = makeAgentDir("one-check-");
afterAll(() => removeDir(dir));

const apps = `apps:
  one-web:
    image: 127.0.0.1:5000/one/web
    track: "^1.2"
    port: 8000
    health: { path: /health }
    route: { rule: "Host(\`one.test\`)", network: one-net }
  one-worker:
    image: ghcr.io/acme/worker
    schedule: "0 * * * *"
    port: 9000
    health: { path: /ready, command: "true" }
  one-swarm:
    image: ghcr.io/acme/api
    backend: swarm
    replicas: 3
    port: 8080
    health: { path: /health }
`;

describe("deploy-agent --check", () => {
  it("prints one line per app and exits 0, without calling the Engine or the control socket, or writing the state file", async () => {
    await using engine = await countingSocket(`${dir}/engine.sock`);
    await using control = await countingSocket(`${dir}/agent.sock`);
    const config = writeConfig(
      dir,
      `state: ${dir}/not-yet/state.json
socket: ${control.path}
docker: { socket: ${engine.path} }
traefik: { api: "https://admin:hunter2@127.0.0.1:8443" }
${apps}`,
    );
    const r = await runDaemon(["--check", "--config", config]);

    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout.split("\n");
    expect(out[0]).toBe(`${config} is valid: 3 apps, nothing contacted or written`);
    expect(out).toContain(`  state    ${dir}/not-yet/state.json (not created yet; the daemon creates it)`);
    expect(out).toContain(`  docker   ${engine.path} (not contacted; every call times out after 30s)`);
    expect(out).toContain("  traefik  https://127.0.0.1:8443/");
    expect(out).toContain("  daemon   not running on this state file or socket");
    expect(out.find((l) => l.startsWith("APP"))?.split(/\s{2,}/)).toEqual(["APP", "IMAGE:TRACK", "RUNS AS", "SCHEDULE", "PORT", "ROUTE", "HEALTH", "LIVE"]);
    expect(out.find((l) => l.startsWith("one-web"))?.split(/\s{2,}/)).toEqual(["one-web", "127.0.0.1:5000/one/web:^1.2", "containers", "*/5 * * * *", "8000", "Host(`one.test`) on one-net", "/health", "-"]);
    expect(out.find((l) => l.startsWith("one-worker"))?.split(/\s{2,}/)).toEqual(["one-worker", "ghcr.io/acme/worker:latest", "containers", "0 * * * *", "9000", "no route", "/ready (own command)", "-"]);
    expect(out.find((l) => l.startsWith("one-swarm"))?.split(/\s{2,}/)).toEqual(["one-swarm", "ghcr.io/acme/api:latest", "swarm service, 3 tasks", "*/5 * * * *", "8080", "no route", "/health", "-"]);
    expect(r.stdout).not.toContain("hunter2");
    expect(engine.connections()).toBe(0);
    expect(control.connections()).toBe(0);
    expect(existsSync(`${dir}/not-yet`)).toBe(false);
  });

  it("lists every problem of the config and the state file, as the daemon would, exits 78 and changes nothing", async () => {
    const env = `${dir}/web.env`;
    writeFileSync(env, "TOKEN=x\n");
    chmodSync(env, 0o644);
    const state = `${dir}/state.json`;
    const corrupt = '{"schemaVersion": 1, "apps": ';
    writeFileSync(state, corrupt);
    const config = writeConfig(
      dir,
      `state: ${state}
socket: ${dir}/agent.sock
${apps.replace("port: 8000", `port: 8000\n    envFile: ${env}\n    drain: 100000h\n    volumes: ["/var/run:/host-run"]`)}`,
    );
    const r = await runDaemon(["--check", "--config", config]);

    expect(r.code).toBe(78);
    expect(r.stdout).toBe("");
    const lines = r.stderr.trimEnd().split("\n");
    expect(lines[0]).toBe(`deploy-agent: ${config} has 4 problems:`);
    expect(lines).toContain("  apps.one-web.drain: must be between 0s and 1h, got 100000h (agent.yaml line 9)");
    expect(lines).toContain(`  apps.one-web.envFile: ${env} is readable by group or others (mode 644); chmod 600 ${env} (agent.yaml line 8)`);
    expect(lines).toContain(
      '  apps.one-web.volumes.0: "/var/run:/host-run" binds /var/run, which holds the Docker socket /var/run/docker.sock: a container that reaches it is root on the host; set apps.one-web.unsafeVolumes: true only if the app must have that (agent.yaml line 10)',
    );
    expect(lines.find((l) => l.startsWith("  state: "))).toMatch(new RegExp(`^  state: state file ${state} is corrupt: invalid JSON`));
    expect(readFileSync(state, "utf8")).toBe(corrupt);
    expect(existsSync(`${state}.prev`)).toBe(false);
  });

  it("warns about a systemd credential it cannot see here, and still exits 0", async () => {
    const config = writeConfig(dir, `state: ${dir}/fresh/state.json\nsocket: ${dir}/agent.sock\nregistries:\n  ghcr.io: { username: bot, credential: ghcr-token }\n${apps}`);
    const r = await runDaemon(["--check", "--config", config]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      "warnings:\n  registries.ghcr.io.credential: not checked: $CREDENTIALS_DIRECTORY is not set here (systemd sets it for the daemon with LoadCredential=ghcr-token:FILE) (agent.yaml line 4)",
    );
  });

  it("is in the usage text", async () => {
    const r = await runDaemon(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("usage: deploy-agent [--check] [--config PATH]");
    expect(r.stdout).toMatch(/--check {9}check the config/);
  });
});
