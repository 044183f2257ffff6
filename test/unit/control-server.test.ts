// The control server on a real Unix socket, driven over real HTTP, with a small in-test AgentApi
// (a fake of our own interface, not of Docker) whose answers each test scripts.
import { spawn } from "node:child_process";
import { recordCalls } from "../support/recording-api.js";
import { existsSync, lstatSync, statSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { createConnection, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AgentApi, DeployEvent, DeployOutcome } from "../../agent/control/api.js";
import { startControlServer, type ControlServer } from "../../agent/control/server.js";
import { AgentError, isAgentError } from "../../agent/errors.js";
import { createLogger, silentLogger } from "../../agent/log.js";

const AT = "2025-01-01T00:00:00.000Z";
const DIGEST = `sha256:${"ab12".repeat(16)}`;

function outcome(partial: Partial<DeployOutcome> = {}): DeployOutcome {
  return { deployId: "12", app: "web", outcome: "succeeded", version: "v1.2.0", digest: DIGEST, slot: "green", generation: 7, ...partial };
}

function events(): DeployEvent[] {
  return [
    { type: "started", app: "web", deployId: "12", trigger: "cli", version: "v1.2.0", at: AT },
    { type: "step", app: "web", deployId: "12", step: "pull", phase: "start", at: AT },
    { type: "progress", app: "web", deployId: "12", step: "pull", message: "layer 1/2", at: AT },
    { type: "step", app: "web", deployId: "12", step: "pull", phase: "end", at: AT },
  ];
}

/** An AgentApi whose verbs each test may replace; records what reached it. */
function fakeApi(overrides: Partial<AgentApi> = {}): AgentApi & { calls: { verb: string; req: unknown }[] } {
  const calls: { verb: string; req: unknown }[] = [];
  const api: AgentApi = {
    async deploy(req, onEvent) {
      for (const e of events()) onEvent(e);
      return outcome();
    },
    async rollback() {
      return outcome({ version: "v1.1.0" });
    },
    async status() {
      return { version: "0.1.0", pid: 1, startedAt: AT, apps: [] };
    },
    async history() {
      return [];
    },
    async resume(req) {
      return { app: req.app ?? "web", wasPinned: true };
    },
    async notify() {
      return [];
    },
    async check() {
      return [];
    },
    async logs(req, onLine) {
      onLine({ stream: "stdout", time: AT, line: "GET /health 200" });
      onLine({ stream: "stderr", line: "warning: slow" });
      return { app: req.app ?? "web", container: "web-blue", lines: 2 };
    },
    ...overrides,
  };
  const recorded = recordCalls(api, calls);
  return Object.assign(recorded, { calls });
}

interface Answer {
  status: number;
  contentType: string;
  text: string;
}

function post(socketPath: string, path: string, body: string | object = {}, method = "POST"): Promise<Answer> {
  const payload = typeof body === "string" ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method, agent: false }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers["content-type"]), text }));
    });
    req.on("error", reject);
    req.end(payload);
  });
}

function lines(text: string): unknown[] {
  return text
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as unknown);
}

/** Leaves a socket file nobody listens on, as a daemon killed with SIGKILL does. */
async function leaveStaleSocket(path: string): Promise<void> {
  const child = spawn(process.execPath, ["-e", `require("net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`]);
  await new Promise((resolve) => child.on("exit", resolve));
}

let dir: string;
let socketPath: string;
const servers: ControlServer[] = [];

async function serve(api: AgentApi, opts: { path?: string; log?: ReturnType<typeof silentLogger> } = {}): Promise<ControlServer> {
  const server = await startControlServer({ socketPath: opts.path ?? socketPath, api, log: opts.log ?? silentLogger() });
  servers.push(server);
  return server;
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "control-server-"));
  socketPath = join(dir, "run", "agent.sock");
});

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

describe("streaming verbs", () => {
  it("streams each event as one ndjson line in order, then exactly one result line", async () => {
    const api = fakeApi();
    await serve(api);
    const answer = await post(socketPath, "/v1/deploy", { app: "web", version: "v1.2.0" });
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe("application/x-ndjson");
    expect(lines(answer.text)).toEqual([...events().map((event) => ({ event })), { result: outcome() }]);
    expect(api.calls).toEqual([{ verb: "deploy", req: { app: "web", version: "v1.2.0" } }]);
  });

  it("ends the stream with an error line carrying code, message and hint when the verb throws an AgentError", async () => {
    const api = fakeApi({
      async rollback(_req, onEvent) {
        onEvent(events()[0] as DeployEvent);
        throw new AgentError("DEPLOY_LOCKED", "deploy of web already running (id 11, step drain)", { hint: "wait or run agentctl status" });
      },
    });
    await serve(api);
    const answer = await post(socketPath, "/v1/rollback", { app: "web" });
    expect(answer.status).toBe(200);
    expect(lines(answer.text)).toEqual([
      { event: events()[0] },
      { error: { code: "DEPLOY_LOCKED", message: "deploy of web already running (id 11, step drain)", hint: "wait or run agentctl status" } },
    ]);
  });

  it("answers 400 before streaming when the body is invalid, and does not call the api", async () => {
    const api = fakeApi();
    await serve(api);
    const answer = await post(socketPath, "/v1/deploy", { version: "bad tag!" });
    expect(answer.status).toBe(400);
    expect(answer.contentType).toBe("application/json");
    const body = JSON.parse(answer.text) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("BAD_ARGUMENT");
    expect(body.error.message).toMatch(/^bad deploy request: version: expected a tag/);
    expect(api.calls).toEqual([]);
  });

  it("keeps the deploy running and keeps serving when the client disconnects mid-stream", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let finished!: (o: DeployOutcome) => void;
    const deployDone = new Promise<DeployOutcome>((r) => (finished = r));
    const api = fakeApi({
      async deploy(_req, onEvent) {
        const [started, ...rest] = events();
        onEvent(started as DeployEvent);
        await gate;
        for (const e of rest) onEvent(e);
        const o = outcome();
        finished(o);
        return o;
      },
    });
    const logged: string[] = [];
    const log = createLogger({ journal: false, level: "info", destination: { write: (s: string) => logged.push(s) } });
    await serve(api, { log });

    const firstLine = await new Promise<string>((resolve, reject) => {
      const req = request({ socketPath, path: "/v1/deploy", method: "POST", agent: false }, (res) => {
        res.setEncoding("utf8");
        res.once("data", (chunk: string) => {
          req.destroy();
          resolve(chunk);
        });
      });
      req.on("error", reject);
      req.end("{}");
    });
    expect(JSON.parse(firstLine)).toEqual({ event: events()[0] });
    // Release the deploy only once the server has seen the client go, so its later events meet a closed stream.
    for (let i = 0; i < 100 && !logged.some((l) => l.includes("went away mid-stream")); i++) await new Promise((r) => setTimeout(r, 20));
    expect(logged.some((l) => l.includes("went away mid-stream"))).toBe(true);
    release();

    await expect(deployDone).resolves.toEqual(outcome());
    const next = await post(socketPath, "/v1/status");
    expect(next.status).toBe(200);
    expect(JSON.parse(next.text)).toEqual({ result: { version: "0.1.0", pid: 1, startedAt: AT, apps: [] } });
  });
});

describe("logs", () => {
  it("streams each line of output as an event, then the result", async () => {
    const api = fakeApi();
    await serve(api);
    const answer = await post(socketPath, "/v1/logs", { app: "web", tail: 10, sinceMs: 600_000 });
    expect(lines(answer.text)).toEqual([
      { event: { stream: "stdout", time: AT, line: "GET /health 200" } },
      { event: { stream: "stderr", line: "warning: slow" } },
      { result: { app: "web", container: "web-blue", lines: 2 } },
    ]);
    expect(api.calls).toEqual([{ verb: "logs", req: { app: "web", tail: 10, sinceMs: 600_000 } }]);
  });

  it("refuses a bad tail, since or role before reading anything", async () => {
    const api = fakeApi();
    await serve(api);
    const answer = await post(socketPath, "/v1/logs", { tail: 0, sinceMs: -5, role: "Worker!" });
    expect(answer.status).toBe(400);
    const body = JSON.parse(answer.text) as { error: { message: string } };
    expect(body.error.message).toMatch(/tail: expected a positive integer/);
    expect(body.error.message).toMatch(/sinceMs: expected a positive number/);
    expect(body.error.message).toMatch(/role: expected a role name/);
    expect(api.calls).toEqual([]);
  });

  it("stops a followed log when its client goes away", async () => {
    let stopped!: () => void;
    const gone = new Promise<void>((r) => (stopped = r));
    const api = fakeApi({
      async logs(_req, onLine, signal) {
        onLine({ stream: "stdout", line: "first" });
        await new Promise<void>((resolve) => signal?.addEventListener("abort", () => resolve(), { once: true }));
        stopped();
        return { app: "web", container: "web-blue", lines: 1 };
      },
    });
    await serve(api);
    const first = await new Promise<string>((resolve, reject) => {
      const req = request({ socketPath, path: "/v1/logs", method: "POST", agent: false }, (res) => {
        res.setEncoding("utf8");
        res.once("data", (chunk: string) => {
          req.destroy();
          resolve(chunk);
        });
      });
      req.on("error", reject);
      req.end(JSON.stringify({ follow: true }));
    });
    expect(JSON.parse(first)).toEqual({ event: { stream: "stdout", line: "first" } });
    await expect(gone).resolves.toBeUndefined();
  });
});

describe("plain verbs", () => {
  it("answers with the result as JSON, passing the validated request to the api", async () => {
    const api = fakeApi({
      async history(req) {
        return [{ id: "3", app: req.app ?? "", trigger: "poll", version: "v1", steps: [], outcome: "succeeded", startedAt: AT }];
      },
    });
    await serve(api);
    const answer = await post(socketPath, "/v1/history", { app: "web", limit: 5 });
    expect(answer.status).toBe(200);
    expect(answer.contentType).toBe("application/json");
    expect(JSON.parse(answer.text)).toEqual({
      result: [{ id: "3", app: "web", trigger: "poll", version: "v1", steps: [], outcome: "succeeded", startedAt: AT }],
    });
    expect(api.calls).toEqual([{ verb: "history", req: { app: "web", limit: 5 } }]);
  });

  it("treats an empty body as a request without fields", async () => {
    const api = fakeApi();
    await serve(api);
    const answer = await post(socketPath, "/v1/resume", "");
    expect(JSON.parse(answer.text)).toEqual({ result: { app: "web", wasPinned: true } });
    expect(api.calls).toEqual([{ verb: "resume", req: {} }]);
  });

  it.each([
    ["a negative limit", "/v1/history", { limit: -1 }, "bad history request: limit: expected a positive integer"],
    ["a fractional limit", "/v1/history", { limit: 1.5 }, "bad history request: limit: expected a positive integer"],
    ["an app name with capitals", "/v1/status", { app: "Web" }, "bad status request: app: expected an app name"],
    ["an unknown field", "/v1/resume", { app: "web", colour: "blue" }, 'bad resume request: unknown field "colour"'],
    ["a body that is not an object", "/v1/status", [1, 2], "bad status request: body: "],
  ])("rejects %s with 400 BAD_ARGUMENT naming the field", async (_name, path, body, message) => {
    const api = fakeApi();
    await serve(api);
    const answer = await post(socketPath, path, body);
    expect(answer.status).toBe(400);
    const parsed = JSON.parse(answer.text) as { error: { code: string; message: string } };
    expect(parsed.error.code).toBe("BAD_ARGUMENT");
    expect(parsed.error.message.startsWith(message)).toBe(true);
    expect(api.calls).toEqual([]);
  });

  it("rejects a body that is not JSON with 400", async () => {
    await serve(fakeApi());
    const answer = await post(socketPath, "/v1/status", '{"app":');
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.text)).toEqual({
      error: { code: "BAD_ARGUMENT", message: 'request body is not valid JSON; send a JSON object such as {"app":"web"}' },
    });
  });

  it.each([
    ["BAD_ARGUMENT", 400],
    ["NO_RELEASE", 404],
    ["DEPLOY_LOCKED", 409],
    ["ENGINE_UNAVAILABLE", 503],
    ["STATE_CORRUPT", 500],
  ] as const)("maps an AgentError %s to HTTP %i with its code, message and hint", async (code, status) => {
    await serve(
      fakeApi({
        async resume() {
          throw new AgentError(code, `resume failed with ${code}`, { hint: "the next step" });
        },
      }),
    );
    const answer = await post(socketPath, "/v1/resume", { app: "web" });
    expect(answer.status).toBe(status);
    expect(JSON.parse(answer.text)).toEqual({ error: { code, message: `resume failed with ${code}`, hint: "the next step" } });
  });

  it("answers any other error with INTERNAL and a fixed short message, logging the exception only", async () => {
    const logged: string[] = [];
    const log = createLogger({ journal: false, level: "info", destination: { write: (s: string) => logged.push(s) } });
    await serve(
      fakeApi({
        async status() {
          throw new TypeError("cannot read properties of undefined (reading 'live') in /srv/secret-path");
        },
      }),
      { log },
    );
    const answer = await post(socketPath, "/v1/status");
    expect(answer.status).toBe(500);
    expect(JSON.parse(answer.text)).toEqual({
      error: { code: "INTERNAL", message: "status failed inside deploy-agent (internal error)", hint: "this is a bug; journalctl -u deploy-agent has the details" },
    });
    expect(answer.text).not.toMatch(/cannot read|secret-path|\bat .*\(|control-server\.test|\.ts:\d+/);
    expect(logged.join("")).toContain("cannot read properties of undefined (reading 'live') in /srv/secret-path");
  });

  it("ends a stream with INTERNAL and the fixed message when a streaming verb throws something other than an AgentError", async () => {
    await serve(
      fakeApi({
        async deploy() {
          throw new RangeError("Invalid time value at /srv/internal.ts:12");
        },
      }),
    );
    const answer = await post(socketPath, "/v1/deploy", {});
    expect(lines(answer.text)).toEqual([{ error: { code: "INTERNAL", message: "deploy failed inside deploy-agent (internal error)", hint: "this is a bug; journalctl -u deploy-agent has the details" } }]);
  });

  it("answers an unknown verb with 404 and a GET with 405", async () => {
    await serve(fakeApi());
    const unknown = await post(socketPath, "/v1/frobnicate");
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.text)).toEqual({
      error: { code: "BAD_ARGUMENT", message: 'unknown verb "frobnicate"; verbs: deploy, rollback, check, logs, status, history, resume, notify' },
    });
    const get = await post(socketPath, "/v1/status", "", "GET");
    expect(get.status).toBe(405);
    const otherVersion = await post(socketPath, "/v2/status");
    expect(otherVersion.status).toBe(404);
    expect(otherVersion.text).toContain("unknown path /v2/status; this daemon answers /v1/<verb>");
  });

  it("answers 413 to a body over 64 KiB without calling the api", async () => {
    const api = fakeApi();
    await serve(api);
    const answer = await post(socketPath, "/v1/status", JSON.stringify({ app: "x".repeat(70_000) }));
    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.text)).toEqual({ error: { code: "BAD_ARGUMENT", message: "request body is larger than 65536 bytes" } });
    expect(api.calls).toEqual([]);
  });
});

/** A raw client on the socket: connects, writes `text` (maybe half a request), and collects what comes back until the server closes. */
function rawClient(path: string, text: string): { closed: Promise<string>; socket: Socket } {
  const socket = createConnection({ path });
  let got = "";
  socket.setEncoding("utf8");
  socket.on("data", (c: string) => (got += c));
  socket.on("error", () => undefined);
  socket.on("connect", () => {
    if (text !== "") socket.write(text);
  });
  return { socket, closed: new Promise((resolve) => socket.on("close", () => resolve(got))) };
}

describe("limits on clients", () => {
  // Node sweeps request deadlines every connectionsCheckingInterval (30 s unless set), so without the
  // server's own interval this would take 30-40 s and fail the test's deadline; measured ~10.1 s.
  it("answers 408 and disconnects a client that sends half a request within about ten seconds", { timeout: 25_000 }, async () => {
    const api = fakeApi();
    await serve(api);
    const halfHeaders = rawClient(socketPath, "POST /v1/status HTTP/1.1\r\nHost: x\r\n");
    const halfBody = rawClient(socketPath, 'POST /v1/deploy HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"app":');
    for (const answer of await Promise.all([halfHeaders.closed, halfBody.closed])) {
      expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      expect(JSON.parse(answer.slice(answer.indexOf("\r\n\r\n") + 4))).toEqual({
        error: { code: "BAD_ARGUMENT", message: "the request did not arrive in full within 10s; connection closed" },
      });
    }
    expect(api.calls).toEqual([]);
  });

  it("refuses connections beyond its limit with DAEMON_UNAVAILABLE, without running the verb, and serves again once one closes", async () => {
    const api = fakeApi();
    servers.push(await startControlServer({ socketPath, api, log: silentLogger(), maxConnections: 2 }));
    const holders = [rawClient(socketPath, ""), rawClient(socketPath, "")];
    await Promise.all(holders.map((h) => new Promise((resolve) => h.socket.once("connect", resolve))));
    const refused = await post(socketPath, "/v1/status");
    expect(refused.status).toBe(503);
    expect(JSON.parse(refused.text)).toEqual({
      error: {
        code: "DAEMON_UNAVAILABLE",
        message: "deploy-agent already serves 2 control connections, its limit; this request was not run",
        hint: expect.stringContaining("try again in a moment"),
      },
    });
    expect(api.calls).toEqual([]);
    holders[0]?.socket.destroy();
    // The server learns of the close on its own time; ask until it has (bounded).
    let answer = await post(socketPath, "/v1/status");
    for (let i = 0; i < 50 && answer.status === 503; i++) answer = await post(socketPath, "/v1/status");
    expect(answer.status).toBe(200);
    expect(api.calls).toEqual([{ verb: "status", req: {} }]);
    holders[1]?.socket.destroy();
  });
});

describe("the socket file", () => {
  it("creates the missing directory and a socket with mode 0660", async () => {
    await serve(fakeApi());
    expect(lstatSync(socketPath).isSocket()).toBe(true);
    expect(statSync(socketPath).mode & 0o777).toBe(0o660);
  });

  it("applies the mode it is given", async () => {
    const server = await startControlServer({ socketPath, api: fakeApi(), log: silentLogger(), mode: 0o600 });
    servers.push(server);
    expect(statSync(socketPath).mode & 0o777).toBe(0o600);
  });

  it("replaces a stale socket file that nobody answers on", async () => {
    const stale = join(dir, "stale.sock");
    await leaveStaleSocket(stale);
    expect(lstatSync(stale).isSocket()).toBe(true);
    await serve(fakeApi(), { path: stale });
    expect((await post(stale, "/v1/status")).status).toBe(200);
  });

  it("refuses to start when another server answers on the socket, and leaves that one serving", async () => {
    await serve(fakeApi());
    const second = startControlServer({ socketPath, api: fakeApi(), log: silentLogger() });
    await expect(second).rejects.toSatisfy((err) => isAgentError(err) && /already answering on control socket/.test(err.message));
    expect((await post(socketPath, "/v1/status")).status).toBe(200);
  });

  it("refuses to remove a file at the socket path that is not a socket", async () => {
    const path = join(dir, "not-a-socket");
    await writeFile(path, "keep me");
    await expect(startControlServer({ socketPath: path, api: fakeApi(), log: silentLogger() })).rejects.toThrow(/is not a socket; not removing it/);
    expect(await readFile(path, "utf8")).toBe("keep me");
  });

  it("removes the socket file on close", async () => {
    const server = await startControlServer({ socketPath, api: fakeApi(), log: silentLogger() });
    await server.close();
    expect(existsSync(socketPath)).toBe(false);
  });
});
