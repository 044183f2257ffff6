// agentctl as the operator runs it: the compiled CLI in a child process, talking to the real control
// server on a temp Unix socket, behind which a small in-test AgentApi scripts the daemon's answers.
import { spawn } from "node:child_process";
import { recordCalls } from "../support/recording-api.js";
import { REPO, compileAgentctl, runAgentctl, type CompiledAgentctl, type Run } from "../support/compiled-agentctl.js";
import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AgentApi, AppStatus, CheckResult, DeployEvent, DeployOutcome, StatusReport } from "../../agent/control/api.js";
import { startControlServer, type ControlServer } from "../../agent/control/server.js";
import { routingWarnings } from "../../agent/deploy/routing.js";
import { AgentError } from "../../agent/errors.js";
import { silentLogger } from "../../agent/log.js";
import type { DeployRecord } from "../../agent/state/schema.js";
import { oneAppReport, REPORT_AT } from "../support/status-report.js";

const AT = REPORT_AT;
const DIGEST = `sha256:${"ab12cd34".repeat(8)}`;
const ABSENT_SOCKET = "/nonexistent/agentctl-test/agent.sock";
const OTHER_DIGEST = `sha256:${"9f".repeat(32)}`;

let compiled: CompiledAgentctl;
let agentctl: string;

beforeAll(async () => {
  compiled = await compileAgentctl();
  agentctl = compiled.path;
});

afterAll(async () => {
  await compiled.remove();
});

function run(args: string[], opts: { uid?: number; gid?: number } = {}): Promise<Run> {
  return runAgentctl(agentctl, args, opts);
}

function outcome(partial: Partial<DeployOutcome> = {}): DeployOutcome {
  return { deployId: "12", app: "web", outcome: "succeeded", version: "v1.2.0", digest: DIGEST, slot: "green", generation: 7, ...partial };
}

function deployEvents(): DeployEvent[] {
  return [
    { type: "started", app: "web", deployId: "12", trigger: "cli", version: "v1.2.0", at: "2025-01-01T10:00:00.000Z" },
    { type: "step", app: "web", deployId: "12", step: "pull", phase: "start", at: "2025-01-01T10:00:00.000Z" },
    { type: "progress", app: "web", deployId: "12", step: "pull", message: "layer 1/2 downloaded", at: "2025-01-01T10:00:01.000Z" },
    { type: "step", app: "web", deployId: "12", step: "pull", phase: "end", at: "2025-01-01T10:00:03.200Z" },
  ];
}

const STATUS: StatusReport = oneAppReport({
  resolvedTag: "latest",
  live: { deployId: "12", version: "v1.2.0", digest: DIGEST, imageId: "sha256:img", slot: "green", generation: 7, since: AT },
  pin: { version: "v1.2.0", since: AT, deployId: "12" },
  paused: true,
  skip: [{ digest: OTHER_DIGEST, version: "v1.3.0", reason: "failed", deployId: "13", at: AT }],
  running: { deployId: "14", step: "drain", version: "v1.4.0", trigger: "cli", startedAt: AT },
  lastPoll: { at: AT, digest: DIGEST, error: { code: "REGISTRY_UNAVAILABLE", message: "ghcr.io answered 503" } },
  containers: [{ name: "web-green-7", slot: "green", state: "running", health: "healthy", digest: DIGEST, generation: 7 }],
});

const HISTORY: DeployRecord[] = [
  {
    id: "13",
    app: "web",
    trigger: "poll",
    version: "v1.3.0",
    digest: OTHER_DIGEST,
    steps: [],
    outcome: "failed",
    error: { code: "GREEN_UNHEALTHY", message: "green web not healthy after 60s" },
    startedAt: "2025-01-01T11:00:00.000Z",
    endedAt: "2025-01-01T11:01:05.000Z",
  },
];

/** What each verb of the scripted daemon returns; tests replace verbs. */
function fakeApi(calls: { verb: string; req: unknown }[], overrides: Partial<AgentApi> = {}): AgentApi {
  const api: AgentApi = {
    async deploy(_req, onEvent) {
      for (const e of deployEvents()) onEvent(e);
      return outcome();
    },
    async rollback(req) {
      return outcome({ deployId: "15", version: req.to ?? "v1.1.0" });
    },
    async status() {
      return STATUS;
    },
    async history() {
      return HISTORY;
    },
    async resume(req) {
      return { app: req.app ?? "web", wasPinned: true };
    },
    async notify() {
      return [];
    },
    async check() {
      const r: CheckResult[] = [{ app: "web", result: "unchanged", digest: DIGEST, detail: "latest still points at the live digest" }];
      return r;
    },
    async logs(req, onLine) {
      onLine({ stream: "stdout", time: AT, line: "listening on :8000" });
      onLine({ stream: "stderr", time: AT, line: "deprecated option" });
      return { app: req.app ?? "web", container: "web-green", lines: 2 };
    },
    ...overrides,
  };
  return recordCalls(api, calls);
}

let dir: string;
let socket: string;
let server: ControlServer | undefined;
let calls: { verb: string; req: unknown }[];

async function daemon(overrides: Partial<AgentApi> = {}, mode?: number): Promise<void> {
  server = await startControlServer({ socketPath: socket, api: fakeApi(calls, overrides), log: silentLogger(), ...(mode === undefined ? {} : { mode }) });
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "agentctl-sock-"));
  await chmod(dir, 0o755);
  socket = join(dir, "agent.sock");
  calls = [];
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe("streaming verbs", () => {
  it("prints one line per event as it happens and a summary, exiting 0 when the deploy succeeds", async () => {
    await daemon();
    const r = await run(["--socket", socket, "deploy", "web", "v1.2.0"]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")).toEqual([
      "web #12  deploy   v1.2.0 (trigger cli)",
      "web #12  pull     started",
      "                  layer 1/2 downloaded",
      "web #12  pull     done (3.2s)",
      `web #12  succeeded: v1.2.0 (sha256:ab12cd34ab12) is live in slot green, generation 7`,
      "",
    ]);
    expect(r.stderr).toBe("");
  });

  it("exits 1 and prints the error and hint when the deploy fails", async () => {
    await daemon({
      async deploy() {
        return outcome({
          outcome: "failed",
          error: { code: "GREEN_UNHEALTHY", message: "green web@sha256:ab12… not healthy after 60s", hint: "docker logs web-green-8" },
        });
      },
    });
    const r = await run(["--socket", socket, "deploy", "web", "v1.3.0"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("web #12  failed: v1.2.0 (sha256:ab12cd34ab12) was not deployed; the previous release keeps serving");
    expect(r.stderr).toBe("error: green web@sha256:ab12… not healthy after 60s [GREEN_UNHEALTHY]\nhint: docker logs web-green-8\n");
  });

  it("exits 1 when the deploy is aborted and 0 when it is unchanged", async () => {
    await daemon({
      async deploy(req) {
        return outcome({ outcome: req.version === "v1" ? "aborted" : "unchanged" });
      },
    });
    expect((await run(["--socket", socket, "deploy", "web", "v1"])).code).toBe(1);
    const unchanged = await run(["--socket", socket, "deploy", "web", "v2"]);
    expect(unchanged.code).toBe(0);
    expect(unchanged.stdout).toContain("unchanged: v1.2.0 (sha256:ab12cd34ab12) is already live");
  });

  it("prints exactly one JSON document on stdout under --json and the progress on stderr", async () => {
    await daemon();
    const r = await run(["deploy", "--json", "--socket", socket]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual(outcome());
    expect(r.stderr).toContain("web #12  pull     started\n");
  });

  it("sends two positionals as app and version, one as the version only, none as an empty request", async () => {
    await daemon();
    await run(["--socket", socket, "deploy", "web", "v1.2.0"]);
    await run(["--socket", socket, "deploy", "api"]);
    await run(["--socket", socket, "deploy"]);
    expect(calls).toEqual([
      { verb: "deploy", req: { app: "web", version: "v1.2.0" } },
      { verb: "deploy", req: { version: "api" } },
      { verb: "deploy", req: {} },
    ]);
  });

  it("sends rollback --to with a digest", async () => {
    await daemon();
    const r = await run(["--socket", socket, "rollback", "web", `--to=${OTHER_DIGEST}`, "--json"]);
    expect(r.code).toBe(0);
    expect(calls).toEqual([{ verb: "rollback", req: { app: "web", to: OTHER_DIGEST } }]);
    expect(JSON.parse(r.stdout)).toMatchObject({ deployId: "15", version: OTHER_DIGEST, outcome: "succeeded" });
  });

  it("exits 1 from check when an app's check failed, and 0 when all are unchanged", async () => {
    await daemon();
    const ok = await run(["--socket", socket, "check"]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toBe("web  unchanged  sha256:ab12cd34ab12  latest still points at the live digest\n");
    await server?.close();
    await daemon({
      async check() {
        return [{ app: "web", result: "failed", detail: "ghcr.io answered 503 three times" }];
      },
    });
    const failed = await run(["--socket", socket, "check", "web", "--json"]);
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout)).toEqual([{ app: "web", result: "failed", detail: "ghcr.io answered 503 three times" }]);
  });
});

describe("logs", () => {
  it("prints the container's stdout lines on stdout and its stderr lines on stderr, and passes -f, --role, --since and --tail on", async () => {
    await daemon();
    const r = await run(["--socket", socket, "logs", "web", "-f", "--role", "worker", "--since", "10m", "--tail", "50"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("listening on :8000\n");
    expect(r.stderr).toBe("deprecated option\n");
    expect(calls).toEqual([{ verb: "logs", req: { app: "web", role: "worker", follow: true, sinceMs: 600_000, tail: 50 } }]);
  });

  it("prints one JSON object per line under --json, and no escapes from the container", async () => {
    await daemon({
      async logs(_req, onLine) {
        onLine({ stream: "stderr", time: AT, line: "\u001b]0;pwned\u0007boom" });
        return { app: "web", container: "web-green", lines: 1 };
      },
    });
    const r = await run(["--socket", socket, "--json", "logs"]);
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as unknown)).toEqual([{ stream: "stderr", time: AT, line: "boom" }]);
  });

  it("exits 1 with the daemon's words when the app has no live release", async () => {
    await daemon({
      async logs() {
        throw new AgentError("NO_RELEASE", "web has no live release yet, so there are no logs to show");
      },
    });
    const r = await run(["--socket", socket, "logs", "web"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("web has no live release yet");
  });
});

describe("errors from the daemon", () => {
  it("prints {error} under --json and exits with the status its code maps to", async () => {
    await daemon({
      async deploy() {
        throw new AgentError("DEPLOY_LOCKED", "deploy of web already running (id 42, step drain)", { hint: "wait or run agentctl status" });
      },
    });
    const r = await run(["--socket", socket, "--json", "deploy", "web"]);
    expect(r.code).toBe(3);
    expect(JSON.parse(r.stdout)).toEqual({
      error: { code: "DEPLOY_LOCKED", message: "deploy of web already running (id 42, step drain)", hint: "wait or run agentctl status" },
    });
  });

  it("prints the message and hint on stderr without --json", async () => {
    await daemon({
      async resume() {
        throw new AgentError("BAD_ARGUMENT", 'no app "blog" in agent.yaml; apps: web', { hint: "agentctl status lists the apps" });
      },
    });
    const r = await run(["--socket", socket, "resume", "blog"]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe('agentctl: no app "blog" in agent.yaml; apps: web\nhint: agentctl status lists the apps\n');
  });
});

describe("bad arguments", () => {
  // The socket does not exist: exit 2 rather than 4 shows each was rejected before connecting.
  // Nothing is shared between these runs, so they run side by side.
  it.concurrent.each([
    [["frobnicate"], 'unknown verb "frobnicate"'],
    [["deploy", "--colour", "blue"], "unknown flag --colour for deploy"],
    [["status", "--limit", "3"], "unknown flag --limit for status"],
    [["history", "--limit"], "--limit needs a value (N)"],
    [["history", "--limit", "0"], '--limit: expected a positive integer, got "0"'],
    [["history", "--limit", "ten"], '--limit: expected a positive integer, got "ten"'],
    [["history", "--limit", "2.5"], '--limit: expected a positive integer, got "2.5"'],
    [["deploy", "web", "v1 2"], 'version "v1 2": expected a tag'],
    [["deploy", ".hidden"], 'version ".hidden": expected a tag'],
    [["deploy", "web", "sha256:abc"], 'version "sha256:abc": expected a tag'],
    [["deploy", "Web", "v1"], 'app "Web": expected an app name'],
    [["deploy", "web", "v1", "extra"], 'deploy takes at most 2 arguments (agentctl deploy [app] [version]); unexpected "extra"'],
    [["rollback", "web", "--to", "not a tag"], '--to "not a tag": expected a tag'],
    [["rollback", "web", "--to"], "--to needs a value (version|digest)"],
    [["--socket"], "--socket needs a value (PATH)"],
    [["--json=yes", "status"], '--json takes no value, got "yes"'],
    [[], "no verb given"],
    [["help", "frobnicate"], 'unknown verb "frobnicate"'],
    [["logs", "--since", "yesterday"], '--since: expected a duration such as 30s, 10m or 48h, got "yesterday"'],
    [["logs", "--tail", "0"], '--tail: expected a positive integer, got "0"'],
    [["logs", "--role", "Bad_Role"], '--role "Bad_Role": expected a role name'],
    [["logs", "-x"], "unknown flag -x for logs"],
  ])("rejects %j with exit 2, naming the argument", async (args, message) => {
    const r = await run(["--socket", ABSENT_SOCKET, ...args]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain(message);
  });

  it("reports a bad argument as {error} on stdout under --json", async () => {
    const r = await run(["--socket", ABSENT_SOCKET, "--json", "history", "--limit", "-3"]);
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toEqual({ error: { code: "BAD_ARGUMENT", message: '--limit: expected a positive integer, got "-3"' } });
  });
});

describe("reaching the daemon", () => {
  it("exits 4 with a systemctl hint when the socket does not exist", async () => {
    const r = await run(["--socket", join(dir, "absent.sock"), "--json", "status"]);
    expect(r.code).toBe(4);
    const body = JSON.parse(r.stdout) as { error: { code: string; message: string; hint: string } };
    expect(body.error.code).toBe("DAEMON_UNAVAILABLE");
    expect(body.error.message).toContain(`no control socket at ${join(dir, "absent.sock")} (ENOENT)`);
    expect(body.error.hint).toContain("systemctl status deploy-agent");
  });

  it("exits 4 when nothing listens on the socket file", async () => {
    const stale = join(dir, "stale.sock");
    const child = spawn(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(stale)}, () => process.kill(process.pid, "SIGKILL"))`]);
    await new Promise((r) => child.on("exit", r));
    const r = await run(["--socket", stale, "status"]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`nothing is listening on ${stale} (ECONNREFUSED)`);
    expect(r.stderr).toContain("hint: systemctl status deploy-agent");
  });

  it("exits 4 with a group hint when the socket's mode refuses the user", async () => {
    // Root ignores file modes, so as root the CLI runs as nobody against the 0660 root-owned socket.
    const asRoot = process.getuid?.() === 0;
    await daemon({}, asRoot ? 0o660 : 0o000);
    const r = await run(["--socket", socket, "status"], asRoot ? { uid: 65534, gid: 65534 } : {});
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`permission denied connecting to ${socket} (EACCES)`);
    expect(r.stderr).toContain("member of the deploy-agent group (sudo usermod -aG deploy-agent $USER, then log in again;");
    expect(r.stderr).not.toContain("<group>");
  });

  it("finds the socket through the socket key of --config, reading nothing else in that file", async () => {
    await daemon();
    const config = join(dir, "agent.yaml");
    await writeFile(config, `socket: ${socket}\napps: 12\nnot_a_key: [1, 2]\n`);
    const r = await run(["--config", config, "resume", "web"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("web: unpinned; polling resumes\n");
  });

  it("prefers --socket over --config", async () => {
    await daemon();
    const config = join(dir, "agent.yaml");
    await writeFile(config, `socket: ${join(dir, "elsewhere.sock")}\n`);
    const r = await run(["--config", config, "--socket", socket, "resume"]);
    expect(r.code).toBe(0);
  });

  it("exits 2 when --config cannot be read or is not YAML", async () => {
    const missing = await run(["--config", join(dir, "missing.yaml"), "status"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`--config ${join(dir, "missing.yaml")}: cannot read it (ENOENT)`);
    const broken = join(dir, "broken.yaml");
    await writeFile(broken, "socket: [unclosed\n");
    const r = await run(["--config", broken, "status"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--config ${broken}: not valid YAML`);
  });
});

describe("status and history", () => {
  it("prints a block per app with live release, pin, running deploy, last poll, skipped digests and containers", async () => {
    await daemon();
    const r = await run(["--socket", socket, "status"]);
    expect(r.code).toBe(0);
    // The age counts from this host's clock; its exact words are proven in status-view.test.ts.
    expect(r.stdout.replace(/, \d+d\d{2}h ago/, ", <age> ago")).toBe(
      [
        "deploy-agent 0.1.0, pid 4242, up since 2025-01-01T10:00:00Z",
        "",
        'web  ghcr.io/acme/web  track latest  schedule "*/5 * * * *"',
        "  live        v1.2.0  sha256:ab12cd34ab12  in slot green  generation 7  since 2025-01-01T10:00:00Z, <age> ago  (#12)",
        "  polling     paused: pinned to v1.2.0 since 2025-01-01T10:00:00Z (#12); agentctl resume web to unpin",
        "  running     #14 v1.4.0, step drain (trigger cli, since 2025-01-01T10:00:00Z)",
        "  last poll   2025-01-01T10:00:00Z  sha256:ab12cd34ab12",
        "  poll error  REGISTRY_UNAVAILABLE: ghcr.io answered 503",
        "  tracked     latest → sha256:ab12cd34ab12, live",
        "  skipped     sha256:9f9f9f9f9f9f v1.3.0 (failed before, #13, 2025-01-01T10:00:00Z)",
        "  containers",
        "    NAME         SLOT   STATE    HEALTH   DIGEST               GENERATION",
        "    web-green-7  green  running  healthy  sha256:ab12cd34ab12  gen 7",
        "",
      ].join("\n"),
    );
  });

  it("says in one line that a rollback pinned the app, and that polling does not deploy a skipped digest", async () => {
    const rolledBack: AppStatus = {
      ...STATUS.apps[0]!,
      resolvedTag: "latest",
      live: { deployId: "15", version: "v1.0.0", digest: DIGEST, imageId: "sha256:img", slot: "blue", generation: 8, since: AT },
      pin: { version: "v1.0.0", digest: DIGEST, since: AT, deployId: "15", rolledBackFrom: { version: "v1.1.0", digest: OTHER_DIGEST } },
      skip: [{ digest: OTHER_DIGEST, version: "v1.1.0", reason: "rolled-back", deployId: "15", at: AT }],
      lastPoll: { at: AT, digest: OTHER_DIGEST },
    };
    const { running: _running, ...idle } = rolledBack;
    const failed: AppStatus = {
      ...idle,
      app: "api",
      track: "^2.0.0",
      resolvedTag: "v2.1.0",
      paused: false,
      skip: [{ digest: OTHER_DIGEST, version: "v2.1.0", reason: "failed", deployId: "9", at: AT }],
    };
    delete failed.pin;
    await daemon({ status: async () => ({ ...STATUS, apps: [rolledBack, failed] }) });
    const r = await run(["--socket", socket, "status"]);
    expect(r.code, r.stderr).toBe(0);
    // Each row as "key: value", whatever the column width.
    const rows = r.stdout.split("\n").map((l) => l.trim().replace(/^(\S+(?: \S+)?) {2,}/, "$1: "));
    expect(rows).toContain("polling: paused: pinned to v1.0.0 (rolled back from v1.1.0) since 2025-01-01T10:00:00Z (#15); agentctl resume web to unpin");
    expect(rows).toContain("tracked: latest → sha256:9f9f9f9f9f9f (skipped: rolled back), not deploying; agentctl deploy web latest deploys it anyway");
    expect(rows).toContain("skipped: sha256:9f9f9f9f9f9f v1.1.0 (rolled back, #15, 2025-01-01T10:00:00Z)");
    expect(r.stdout).toContain('\napi  ghcr.io/acme/web  track ^2.0.0 (resolved v2.1.0)  schedule "*/5 * * * *"\n');
    expect(rows).toContain("tracked: v2.1.0 → sha256:9f9f9f9f9f9f (skipped: failed before), not deploying; agentctl deploy api v2.1.0 deploys it anyway");
  });

  it("shows the run of failures polling retries after: how many, the last error, and the next try", async () => {
    const { running: _running, pin: _pin, ...idle } = STATUS.apps[0]!;
    const retrying: AppStatus = {
      ...idle,
      paused: false,
      retrying: {
        failures: 3,
        lastError: { code: "PULL_FAILED", message: "pull of ghcr.io/acme/web@sha256:9f9f failed: unexpected EOF" },
        lastAt: AT,
        digest: OTHER_DIGEST,
        nextTryAt: "2025-01-01T10:00:40.000Z",
        nextTryInMs: 39_200,
      },
    };
    const busy: AppStatus = { ...retrying, app: "api", running: STATUS.apps[0]!.running! };
    await daemon({ status: async () => ({ ...STATUS, apps: [retrying, busy] }) });
    const r = await run(["--socket", socket, "status"]);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.split("\n").map((l) => l.trim().replace(/^(\S+(?: \S+)?) {2,}/, "$1: "));
    expect(rows).toContain(
      "retrying: 3 failures in a row, last: PULL_FAILED: pull of ghcr.io/acme/web@sha256:9f9f failed: unexpected EOF; sha256:9f9f9f9f9f9f held off; next try in 40s (2025-01-01T10:00:40Z), by itself; agentctl check web tries now",
    );
    expect(rows).toContain("retrying: 3 failures in a row, last: PULL_FAILED: pull of ghcr.io/acme/web@sha256:9f9f failed: unexpected EOF; trying again now");
    const json = await run(["--socket", socket, "--json", "status"]);
    expect(JSON.parse(json.stdout).apps[0].retrying).toEqual(retrying.retrying);
  });

  it("warns in a row when no Traefik shares the route's network and switches are not confirmed", async () => {
    const lonely: AppStatus = { ...STATUS.apps[0]!, routing: { network: "web", networkExists: true, traefik: [], confirmed: false, settleMs: 3000 } };
    lonely.warnings = routingWarnings(lonely.routing!);
    const absent: AppStatus = { ...STATUS.apps[0]!, app: "api", routing: { network: "edge", networkExists: false, traefik: [], confirmed: true, settleMs: 3000 } };
    absent.warnings = routingWarnings(absent.routing!);
    const served: AppStatus = { ...STATUS.apps[0]!, app: "blog", routing: { network: "web", networkExists: true, traefik: ["traefik"], confirmed: true, settleMs: 3000 } };
    served.warnings = routingWarnings(served.routing!);
    await daemon({ status: async () => ({ ...STATUS, apps: [lonely, absent, served] }) });
    const r = await run(["--socket", socket, "status"]);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.split("\n").map((l) => l.trim().replace(/^(\S+(?: \S+)?) {2,}/, "$1: "));
    expect(rows).toContain("warning: no Traefik on network web: the route is not served, the app is reachable only by container IP (start Traefik: examples/traefik)");
    expect(rows).toContain("warning: traefik.api is not set: switches are not confirmed, the agent waits settle (3s)");
    expect(rows).toContain(
      "warning: Traefik is not on network edge yet (the agent creates the network at the first deploy): the route is not served; start Traefik with the example in examples/traefik",
    );
    expect(rows.filter((l) => l.startsWith("warning:"))).toHaveLength(3);
  });

  it("names a pin on the tracked tag itself by its digest", async () => {
    const app: AppStatus = {
      ...STATUS.apps[0]!,
      pin: { version: "latest", digest: DIGEST, since: AT, deployId: "15", rolledBackFrom: { version: "latest", digest: OTHER_DIGEST } },
    };
    await daemon({ status: async () => ({ ...STATUS, apps: [app] }) });
    const r = await run(["--socket", socket, "status"]);
    expect(r.stdout).toContain("paused: pinned to latest@sha256:ab12cd34ab12 (rolled back from latest@sha256:9f9f9f9f9f9f) since");
  });

  it("prints status --json as the daemon's report", async () => {
    await daemon();
    const r = await run(["--socket", socket, "status", "web", "--json"]);
    expect(JSON.parse(r.stdout)).toEqual(STATUS);
    expect(calls).toEqual([{ verb: "status", req: { app: "web" } }]);
  });

  it("prints history as a table and passes --limit on", async () => {
    await daemon();
    const r = await run(["--socket", socket, "history", "web", "--limit", "5"]);
    expect(r.code).toBe(0);
    expect(calls).toEqual([{ verb: "history", req: { app: "web", limit: 5 } }]);
    expect(r.stdout).toBe(
      [
        "ID   APP  WHEN                  TRIGGER  VERSION  DIGEST               OUTCOME  DURATION  ERROR",
        "#13  web  2025-01-01T11:00:00Z  poll     v1.3.0   sha256:9f9f9f9f9f9f  failed   1m05s     GREEN_UNHEALTHY: green web not healthy after 60s",
        "",
      ].join("\n"),
    );
  });

  it("prints history --json as the list of deploy records", async () => {
    await daemon();
    const r = await run(["--socket", socket, "--json", "history"]);
    expect(JSON.parse(r.stdout)).toEqual(HISTORY);
  });
});

describe("text from the daemon", () => {
  // What a container's log line or a registry's error body may carry: clear screen, retitle the window.
  const HOSTILE = "\x1b[2J\x1b]0;x\x07";
  const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

  async function hostileDaemon(): Promise<void> {
    await daemon({
      async deploy(_req, onEvent) {
        onEvent({ type: "progress", app: "web", deployId: "12", step: "start", message: `${HOSTILE}green log: listening\x9b2J`, at: AT });
        return outcome({ outcome: "failed", error: { code: "GREEN_EXITED", message: `green exited: ${HOSTILE}boom`, hint: `docker logs ${HOSTILE}web-green-8` } });
      },
      async status() {
        const app = STATUS.apps[0] as StatusReport["apps"][number];
        return { ...STATUS, apps: [{ ...app, containers: [{ ...app.containers[0]!, name: `web-green-7${HOSTILE}` }] }] };
      },
      async resume() {
        throw new AgentError("REGISTRY_UNAVAILABLE", `registry said ${HOSTILE}no`, { hint: `wait${HOSTILE}` });
      },
    });
  }

  it("prints messages, hints, log lines and container names without terminal escapes", async () => {
    await hostileDaemon();
    const deploy = await run(["--socket", socket, "deploy", "web", "v1.3.0"]);
    expect(deploy.stdout).toContain("                  green log: listening\n");
    expect(deploy.stderr).toBe("error: green exited: boom [GREEN_EXITED]\nhint: docker logs web-green-8\n");
    const status = await run(["--socket", socket, "status"]);
    expect(status.stdout).toContain("    web-green-7  green");
    const failed = await run(["--socket", socket, "resume", "web"]);
    expect(failed.stderr).toBe("agentctl: registry said no\nhint: wait\n");
    for (const r of [deploy, status, failed]) expect(r.stdout + r.stderr).not.toMatch(RAW_CONTROL);
  });

  it("strips the escapes from every string of a --json document too", async () => {
    await hostileDaemon();
    const deploy = await run(["--socket", socket, "--json", "deploy", "web", "v1.3.0"]);
    expect(JSON.parse(deploy.stdout)).toMatchObject({ error: { message: "green exited: boom", hint: "docker logs web-green-8" } });
    const status = await run(["--socket", socket, "--json", "status"]);
    expect((JSON.parse(status.stdout) as StatusReport).apps[0]?.containers[0]?.name).toBe("web-green-7");
    const failed = await run(["--socket", socket, "--json", "resume", "web"]);
    expect(JSON.parse(failed.stdout)).toEqual({ error: { code: "REGISTRY_UNAVAILABLE", message: "registry said no", hint: "wait" } });
    for (const r of [deploy, status, failed]) {
      expect(r.stdout + r.stderr).not.toMatch(RAW_CONTROL);
      expect(r.stdout).not.toMatch(/\\u00(?:1b|07)/i);
    }
  });
});

describe("help and version", () => {
  it("prints usage with every verb for --help and exits 0", async () => {
    const r = await run(["--help"]);
    expect(r.code).toBe(0);
    for (const verb of ["deploy [app] [version]", "rollback [app] [--to version|digest]", "status [app]", "history [app] [--limit N]", "resume [app]", "check [app]"]) {
      expect(r.stdout).toContain(verb);
    }
  });

  it("explains in help deploy what a deploy does and how a single argument is read, not the wire protocol", async () => {
    const r = await run(["help", "deploy"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Starts the new release beside the live one, waits until it is healthy");
    expect(r.stdout).toContain("A single argument is an app when an app has that name, otherwise a version of the only app.");
    expect(r.stdout).not.toMatch(/sent to the daemon|the daemon decides|green|blue/);
    expect((await run(["deploy", "--help"])).stdout).toBe(r.stdout);
  });

  it("prints the package version for --version", async () => {
    const pkg = JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as { version: string };
    const r = await run(["--version"]);
    expect(r).toEqual({ code: 0, stdout: `agentctl ${pkg.version}\n`, stderr: "" });
  });
});
