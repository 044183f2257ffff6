// The --json documents of agentctl are described by the committed JSON Schemas in docs/json/, and
// their shape stays stable: each committed file equals what agent/cli/json-output.ts generates now
// (npm run schemas rewrites them), and what the built agentctl (dist/, npm run build) really prints
// for every verb validates against its file with a standard validator (ajv, JSON Schema 2020-12).
// Behind agentctl runs the real control server on a temp socket, with a scripted AgentApi (the
// socket's contract, not a Docker mock) that answers with every optional field set.
import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JSON_SCHEMA_DIR, jsonSchemaFiles } from "../../agent/cli/json-output.js";
import type { AgentApi, CheckResult, DeployOutcome, StatusReport } from "../../agent/control/api.js";
import { startControlServer, type ControlServer } from "../../agent/control/server.js";
import { AgentError } from "../../agent/errors.js";
import { silentLogger } from "../../agent/log.js";
import type { DeployRecord } from "../../agent/state/schema.js";

const ROOT = join(import.meta.dirname, "../..");
const AGENTCTL = join(ROOT, "dist/agent/cli/agentctl.js");
const AT = "2025-01-01T10:00:00.000Z";
const LATER = "2025-01-01T10:05:00.000Z";
const D1 = `sha256:${"ab".repeat(32)}`;
const D2 = `sha256:${"9f".repeat(32)}`;
const ERR = { code: "REGISTRY_UNAVAILABLE", message: "ghcr.io answered 503", hint: "polling tries again" };
const HOOKS = { predeploy: { exitCode: 0, timedOut: false, output: "migrated", durationMs: 1200 }, postdeploy: { exitCode: 1, timedOut: false, output: "purge failed" } };

const OUTCOME: DeployOutcome = { deployId: "12", app: "web", outcome: "succeeded", version: "v1.2.0", digest: D1, slot: "green", generation: 7, error: ERR, hooks: HOOKS };

const container = { name: "web-green", slot: "green", state: "running", health: "healthy", digest: D1, generation: 7 };
const STATUS: StatusReport = {
  version: "0.1.0",
  pid: 4242,
  startedAt: AT,
  daemon: { rssBytes: 1, rssAnonBytes: 1, heapUsedBytes: 1, heapTotalBytes: 1, externalBytes: 1, arrayBuffersBytes: 1, fds: 9, timers: 2, engineStreams: 1 },
  engineError: ERR,
  stateWrite: { since: AT, message: "ENOSPC" },
  apps: [
    {
      app: "web",
      image: "ghcr.io/acme/web",
      track: "^1.2",
      resolvedTag: "v1.2.0",
      schedule: "*/5 * * * *",
      live: { deployId: "12", version: "v1.2.0", digest: D1, imageId: "sha256:img", slot: "green", generation: 7, since: AT },
      pin: { version: "v1.2.0", since: AT, deployId: "12", digest: D1, rolledBackFrom: { version: "v1.3.0", digest: D2 } },
      paused: true,
      releases: [{ deployId: "12", version: "v1.2.0", digest: D1, indexDigest: D2, imageId: "sha256:img", keepTag: "deploy-agent/web:rollback-7", deployedAt: AT }],
      skip: [{ digest: D2, version: "v1.3.0", reason: "rolled-back", deployId: "13", at: AT }],
      running: { deployId: "14", step: "drain", version: "v1.4.0", trigger: "cli", startedAt: AT },
      lastPoll: { at: AT, digest: D1, error: ERR },
      retrying: { failures: 3, lastError: ERR, lastAt: AT, digest: D2, nextTryAt: LATER, nextTryInMs: 300_000 },
      nextPoll: LATER,
      containers: [container],
      roles: [{ ...container, name: "web-worker-green", role: "worker" }],
      services: [
        {
          name: "web",
          role: "worker",
          exists: true,
          digest: D1,
          replicas: 2,
          update: { state: "completed", message: "update completed" },
          tasks: [{ slot: 1, state: "running", desiredState: "running", digest: D1, node: "q2x7c0t1a9k3", nodeName: "node-a", error: "none" }],
          error: "none",
        },
      ],
      conflicts: [{ name: "web-blue", id: "abc", state: "running", reason: "not created by this agent" }],
      routing: { network: "web", networkExists: true, traefik: ["traefik"], lookError: "none", confirmed: true, settleMs: 3000 },
      warnings: ["no Traefik on network web"],
      liveProblem: { condition: "exited", since: AT, exitCode: 1, words: "exited with 1" },
      mode: "notify",
      available: { version: "v1.4.0", digest: D2, since: AT },
      waiting: { gate: "minAge", version: "v1.4.0", digest: D2, until: LATER, minAgeMs: 600_000 },
      watch: { deployId: "12", until: LATER, previous: "v1.1.0" },
    },
  ],
};

const HISTORY: DeployRecord[] = [
  {
    id: "12",
    app: "web",
    trigger: "poll",
    version: "v1.2.0",
    digest: D1,
    indexDigest: D2,
    imageId: "sha256:img",
    slot: "green",
    generation: 7,
    previous: { digest: D2, version: "v1.1.0", slot: "blue", generation: 6 },
    steps: [{ name: "pull", startedAt: AT, endedAt: LATER, detail: "3 layers" }],
    outcome: "failed",
    error: ERR,
    hooks: HOOKS,
    startedAt: AT,
    endedAt: LATER,
  },
];

const CHECK: CheckResult[] = [
  { app: "web", result: "deployed", digest: D1, detail: "latest moved", deploy: OUTCOME },
  { app: "api", result: "waiting", detail: "minAge 10m" },
];

const api: AgentApi = {
  async deploy(_req, onEvent) {
    onEvent({ type: "started", app: "web", deployId: "12", trigger: "cli", version: "v1.2.0", at: AT });
    return OUTCOME;
  },
  async rollback() {
    return { ...OUTCOME, outcome: "failed", deployId: "15" };
  },
  async status() {
    return STATUS;
  },
  async history() {
    return HISTORY;
  },
  async resume(req) {
    if (req.app === "nope") throw new AgentError("BAD_ARGUMENT", 'no app named "nope"', { hint: "see agentctl status" });
    return { app: "web", wasPinned: true };
  },
  async notify() {
    return [{ target: "https://ntfy.example", format: "ntfy", ok: false, status: 503, error: "answered 503", attempts: 3 }];
  },
  async check() {
    return CHECK;
  },
  async logs(_req, onLine) {
    onLine({ stream: "stdout", time: AT, line: "listening on :8000" });
    onLine({ stream: "stderr", line: "\u001b[31mdeprecated\u001b[0m option" });
    return { app: "web", container: "web-green", lines: 2 };
  },
};

let dir: string;
let socket: string;
let server: ControlServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "json-output-"));
  socket = join(dir, "agent.sock");
  server = await startControlServer({ socketPath: socket, api, log: silentLogger() });
});

afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs the built agentctl with --json; its stdout as printed. */
function agentctlStdout(args: string[]): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [AGENTCTL, "--socket", socket, "--json", ...args], { stdio: ["ignore", "pipe", "ignore"] });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout }));
  });
}

/** Runs the built agentctl with --json; its stdout parsed as the one document it prints. */
async function agentctlJson(args: string[]): Promise<{ code: number | null; doc: unknown }> {
  const r = await agentctlStdout(args);
  return { code: r.code, doc: JSON.parse(r.stdout) as unknown };
}

const committed = async (file: string): Promise<object> => JSON.parse(await readFile(join(ROOT, JSON_SCHEMA_DIR, file), "utf8")) as object;
const ajv = new Ajv2020({ allErrors: true, strict: true });

async function expectValid(file: string, doc: unknown): Promise<void> {
  const validate = ajv.getSchema(file) ?? ajv.addSchema(await committed(file), file).getSchema(file)!;
  expect(validate(doc), `${file}: ${JSON.stringify(validate.errors)}`).toBe(true);
}

describe("docs/json", () => {
  it("holds exactly the schemas agent/cli/json-output.ts generates now (npm run schemas rewrites them)", async () => {
    const generated = jsonSchemaFiles();
    const files = (await readdir(join(ROOT, JSON_SCHEMA_DIR))).filter((f) => f.endsWith(".json")).sort();
    expect(files).toEqual([...generated.keys()].sort());
    for (const [file, text] of generated) expect(await readFile(join(ROOT, JSON_SCHEMA_DIR, file), "utf8"), file).toBe(text);
  });

  it("refuses a document with a key it does not describe, or without a required one", async () => {
    await expectValid("agentctl-status.schema.json", STATUS);
    const validate = ajv.getSchema("agentctl-status.schema.json")!;
    expect(validate({ ...STATUS, extra: 1 })).toBe(false);
    const { pid: _pid, ...withoutPid } = STATUS;
    expect(validate(withoutPid)).toBe(false);
  });
});

describe("what agentctl --json prints validates against its schema in docs/json", () => {
  const cases: [string, string[], number][] = [
    ["agentctl-status.schema.json", ["status"], 0],
    ["agentctl-history.schema.json", ["history", "--limit", "5"], 0],
    ["agentctl-deploy.schema.json", ["deploy", "web", "v1.2.0"], 0],
    ["agentctl-rollback.schema.json", ["rollback", "web"], 1],
    ["agentctl-check.schema.json", ["check"], 0],
    ["agentctl-resume.schema.json", ["resume", "web"], 0],
    ["agentctl-notify-test.schema.json", ["notify", "test"], 1],
    ["agentctl-error.schema.json", ["resume", "nope"], 2],
    ["agentctl-error.schema.json", ["history", "--limit", "-3"], 2],
    ["agentctl-version.schema.json", ["--version"], 0],
  ];
  it("agentctl logs --json exits 0 with one document per line, each agentctl-logs.schema.json describes", async () => {
    const r = await agentctlStdout(["logs", "web"]);
    expect(r.code).toBe(0);
    const docs = r.stdout.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l) as unknown);
    expect(docs).toHaveLength(2);
    for (const doc of docs) await expectValid("agentctl-logs.schema.json", doc);
  });

  for (const [file, args, exit] of cases) {
    it(`agentctl ${args.join(" ")} --json exits ${exit} with a document ${file} describes`, async () => {
      const r = await agentctlJson(args);
      expect(r.code).toBe(exit);
      await expectValid(file, r.doc);
    });
  }
});
