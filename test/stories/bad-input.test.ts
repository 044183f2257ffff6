// Bad input gets a clear error naming the field or argument, a non-zero exit, and loses nothing.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { afterAll, describe, expect, it } from "vitest";
import { AGENTCTL, DAEMON, makeAgentDir, removeDir, writeConfig } from "../support/agent.js";
import { runDaemon } from "../support/daemon-run.js";
import { countingSocket } from "../support/listening-socket.js";

const dir = makeAgentDir("da-bad-");
afterAll(() => removeDir(dir));

function daemon(args: string[]) {
  return spawnSync(process.execPath, [DAEMON, ...args], { encoding: "utf8", timeout: 20_000, env: { ...process.env, JOURNAL_STREAM: "" } });
}

function ctl(args: string[]) {
  return spawnSync(process.execPath, [AGENTCTL, ...args], { encoding: "utf8", timeout: 20_000 });
}

describe("bad config", () => {
  it("stops the daemon naming every bad field and its line", () => {
    const path = writeConfig(
      dir,
      `apps:
  web:
    image: ghcr.io/acme/web
    port: 80000
    health:
      path: health
    drain: ten seconds
`,
    );
    const r = daemon(["--config", path]);
    expect(r.status).toBe(78);
    expect(r.stderr).toContain("apps.web.port");
    expect(r.stderr).toContain('apps.web.health.path: must start with "/" (agent.yaml line 6)');
    expect(r.stderr).toContain('apps.web.drain: expected a duration such as "10s", "500ms" or "2m", got "ten seconds" (agent.yaml line 7)');
  });

  it("stops the daemon at start on config that could only fail later, naming each key, before the Engine or the state file", async () => {
    const startDir = makeAgentDir("one-refused-");
    await using engine = await countingSocket(`${startDir}/engine.sock`);
    const envFile = `${startDir}/web.env`;
    writeFileSync(envFile, "GOOD=1\nBAD-NAME=2\n", { mode: 0o600 });
    const path = writeConfig(
      startDir,
      `state: ${startDir}/state.json
socket: ${startDir}/agent.sock
docker: { socket: ${engine.path} }
traefik: { api: "ftp://127.0.0.1:8080" }
registries:
  ghcr.io: { username: bot, credential: ghcr-token }
apps:
  one-web:
    image: ghcr.io/acme/web
    port: 8000
    health: { path: /health, startTimeout: 0s }
    env: { "9LIVES": "x" }
    envFile: ${envFile}
    volumes: ["${engine.path}:/var/run/docker.sock"]
`,
    );
    const r = await runDaemon(["--config", path]);
    expect(r.code).toBe(78);
    const lines = r.stderr.split("\n");
    expect(lines[0]).toBe(`deploy-agent: ${path} has 6 problems:`);
    expect(lines).toEqual(
      expect.arrayContaining([
        "  traefik.api: expected an http:// or https:// URL such as http://127.0.0.1:8080, got ftp:// (agent.yaml line 4)",
        "  apps.one-web.health.startTimeout: must be between 1s and 1h, got 0s (agent.yaml line 11)",
        '  apps.one-web.env.9LIVES: "9LIVES" is not a valid variable name (letters, digits and _, not starting with a digit) (agent.yaml line 12)',
        "  registries.ghcr.io.credential: $CREDENTIALS_DIRECTORY is not set: run the agent under systemd with LoadCredential=ghcr-token:FILE, or use passwordFile (agent.yaml line 6)",
        `  apps.one-web.envFile: ${envFile} line 2: "BAD-NAME" is not a valid variable name (letters, digits and _, not starting with a digit) (agent.yaml line 13)`,
        `  apps.one-web.volumes.0: "${engine.path}:/var/run/docker.sock" binds ${engine.path}, the Docker socket: a container that reaches it is root on the host; set apps.one-web.unsafeVolumes: true only if the app must have that (agent.yaml line 14)`,
      ]),
    );
    expect(engine.connections()).toBe(0);
    expect(existsSync(`${startDir}/state.json`)).toBe(false);
    removeDir(startDir);
  });

  it("stops the daemon naming a missing config file", () => {
    const r = daemon(["--config", `${dir}/nope.yaml`]);
    expect(r.status).toBe(78);
    expect(r.stderr).toContain(`cannot read config ${dir}/nope.yaml: ENOENT`);
  });

  it("rejects an unknown daemon argument", () => {
    const r = daemon(["--confg", "x"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown argument "--confg"');
  });
});

describe("a corrupt state file", () => {
  it("stops the daemon naming the file and its last good copy, and touches neither", () => {
    const stateDir = makeAgentDir("da-corrupt-");
    const state = `${stateDir}/state.json`;
    writeFileSync(state, '{"schemaVersion": 1, "nextDeployId": 3, "apps": {"web": 5}}');
    const good = JSON.stringify({ schemaVersion: 1, nextDeployId: 2, apps: {} });
    writeFileSync(`${state}.prev`, good);
    const path = writeConfig(
      stateDir,
      `state: ${state}\nsocket: ${stateDir}/agent.sock\napps:\n  web:\n    image: 127.0.0.1:5000/x/web\n    port: 8000\n    health: { path: /health }\n`,
    );
    const r = daemon(["--config", path]);
    expect(r.status).toBe(78);
    expect(r.stderr).toContain(state);
    expect(r.stderr).toContain(`${state}.prev`);
    expect(readFileSync(state, "utf8")).toBe('{"schemaVersion": 1, "nextDeployId": 3, "apps": {"web": 5}}');
    expect(readFileSync(`${state}.prev`, "utf8")).toBe(good);
    removeDir(stateDir);
  });
});

describe("bad agentctl arguments", () => {
  it("rejects a version that is not a tag, naming the argument", () => {
    const r = ctl(["deploy", "web", "v1 .0!"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/version/);
    expect(r.stderr).toContain("v1 .0!");
  });

  it("rejects an unknown verb", () => {
    const r = ctl(["depoly"]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("depoly");
  });

  it("says the daemon is not running when its socket is absent", () => {
    const r = ctl(["--socket", `${dir}/absent.sock`, "status"]);
    expect(r.status).toBe(4);
    expect(r.stderr).toContain(`${dir}/absent.sock`);
  });
});
