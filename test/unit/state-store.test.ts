import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync, statSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { AgentError, isAgentError } from "../../agent/errors.js";
import { createLogger, silentLogger } from "../../agent/log.js";
import { State } from "../../agent/state/schema.js";
import { StateStore } from "../../agent/state/store.js";
import { addSkip, allocateDeployId, beginDeploy, finishDeploy } from "../../agent/state/transitions.js";

const T0 = "2025-01-01T00:00:00.000Z";
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "state-store-"));
  dirs.push(dir);
  return dir;
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

function openStore(path: string, extra: { historyLimit?: number; skipLimit?: number } = {}): Promise<StateStore> {
  return StateStore.open(path, { log: silentLogger(), historyLimit: 50, ...extra });
}

/** Runs one finished deploy of `app` in its own update; returns its id. */
function deployOnce(store: StateStore, app = "web", outcome: "succeeded" | "failed" = "succeeded"): Promise<string> {
  return store.update((d) => {
    const rec = beginDeploy(d, { app, trigger: "poll", version: "latest", startedAt: T0 });
    finishDeploy(d, app, rec.id, { outcome, endedAt: T0 });
    return rec.id;
  });
}

async function corruptionOf(path: string): Promise<AgentError> {
  const err = await openStore(path).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isAgentError(err, "STATE_CORRUPT"), `expected STATE_CORRUPT, got ${String(err)}`).toBe(true);
  return err as AgentError;
}

/** The indented command lines of a hint, as one shell script. */
function hintCommands(err: AgentError): string {
  return (err.hint ?? "")
    .split("\n")
    .filter((l) => l.startsWith("  "))
    .map((l) => l.trim())
    .join("\n");
}

const readJson = async (p: string): Promise<unknown> => JSON.parse(await readFile(p, "utf8"));

describe("opening", () => {
  it("gives a state file written before identities an agentId once, and keeps it from then on", async () => {
    const path = join(await tempDir(), "state.json");
    await writeFile(path, JSON.stringify({ schemaVersion: 1, nextDeployId: 3, apps: {} }));
    const first = await openStore(path);
    expect(first.agentId).toMatch(/^[a-f0-9]{32}$/);
    expect(await readJson(path)).toMatchObject({ agentId: first.agentId, nextDeployId: 3 });
    expect((await openStore(path)).agentId).toBe(first.agentId);
  });

  it("reads a pin written before pins named their digest and what a rollback left, and writes the new fields back", async () => {
    const path = join(await tempDir(), "state.json");
    const app = { generation: 2, releases: [], skip: [], history: [], pin: { version: "v1.0.0", since: T0, deployId: "2" } };
    await writeFile(path, JSON.stringify({ schemaVersion: 1, nextDeployId: 3, apps: { web: app } }));
    const store = await openStore(path);
    expect(store.app("web").pin).toEqual({ version: "v1.0.0", since: T0, deployId: "2" });
    const left = { version: "v1.1.0", digest: `sha256:${"b".repeat(64)}` };
    await store.update((d) => {
      d.apps.web!.pin = { version: "v1.0.0", digest: `sha256:${"a".repeat(64)}`, since: T0, deployId: "3", rolledBackFrom: left };
    });
    expect((await openStore(path)).app("web").pin?.rolledBackFrom).toEqual(left);
  });

  it("gives two new state files two different agentIds", async () => {
    const a = await openStore(join(await tempDir(), "state.json"));
    const b = await openStore(join(await tempDir(), "state.json"));
    expect(a.agentId).not.toBe(b.agentId);
  });

  it("creates a missing directory (0700) and writes an empty state file (0600) at once", async () => {
    const path = join(await tempDir(), "nested", "state.json");
    const store = await openStore(path);
    expect(store.path).toBe(path);
    expect(store.snapshot()).toEqual({ schemaVersion: 1, agentId: expect.stringMatching(/^[a-f0-9]{32}$/), nextDeployId: 1, apps: {} });
    expect(await readJson(path)).toEqual(store.snapshot());
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(join(path, "..")).mode & 0o777).toBe(0o700);
  });

  it("reads back what earlier updates wrote", async () => {
    const path = join(await tempDir(), "state.json");
    const first = await openStore(path);
    await deployOnce(first);
    await first.update((d) =>
      addSkip(d, "api", { digest: `sha256:${"a".repeat(64)}`, version: "v2", reason: "failed", deployId: "1", at: T0 }),
    );
    const again = await openStore(path);
    expect(again.snapshot()).toEqual(first.snapshot());
    expect(again.app("api").skip).toHaveLength(1);
  });

  it("ignores and removes temp files left by an interrupted write", async () => {
    const dir = await tempDir();
    const path = join(dir, "state.json");
    await deployOnce(await openStore(path));
    await writeFile(join(dir, ".state.json.tmp-999-deadbeef"), '{"schemaVersion":1,"nextDeployId":');
    await writeFile(join(dir, ".state.json.tmp-998-cafe"), "");
    await writeFile(join(dir, ".other.json.tmp-1-ab"), "not ours");
    const lines: string[] = [];
    const log = createLogger({ journal: false, destination: { write: (s: string) => lines.push(s) } });
    const store = await StateStore.open(path, { log, historyLimit: 50 });
    expect(store.snapshot().nextDeployId).toBe(2);
    expect((await readdir(dir)).sort()).toEqual([".other.json.tmp-1-ab", "state.json", "state.json.prev"]);
    expect(lines.filter((l) => l.includes("interrupted state write"))).toHaveLength(2);
  });

  it("refuses to start empty when the file is gone but its .prev copy exists", async () => {
    const path = join(await tempDir(), "state.json");
    const store = await openStore(path);
    await deployOnce(store);
    await rm(path);
    const err = await corruptionOf(path);
    expect(err.message).toContain(`${path} does not exist, but its previous copy ${path}.prev does`);
    execFileSync("sh", ["-c", hintCommands(err).split("\n")[0]!]);
    expect((await openStore(path)).snapshot()).toEqual({ schemaVersion: 1, agentId: expect.stringMatching(/^[a-f0-9]{32}$/), nextDeployId: 1, apps: {} });
  });

  it("rejects a negative history limit", async () => {
    const path = join(await tempDir(), "state.json");
    await expect(openStore(path, { historyLimit: -1 })).rejects.toThrow(/historyLimit must be an integer ≥ 0, got -1/);
  });
});

describe("a corrupt state file", () => {
  it("stops with STATE_CORRUPT naming the file, the JSON position and the missing .prev when the JSON is truncated", async () => {
    const path = join(await tempDir(), "state.json");
    await openStore(path);
    const bad = '{\n  "schemaVersion": 1,\n  "nextDeployId":';
    await writeFile(path, bad);
    const err = await corruptionOf(path);
    expect(err.message).toContain(`state file ${path} is corrupt: invalid JSON at line 3, column 18`);
    expect(err.message).toContain(`There is no good copy to restore: ${path}.prev does not exist.`);
    expect(err.hint).toMatch(/Move the bad file aside/);
    expect(await readFile(path, "utf8")).toBe(bad);
  });

  it("names the last good .prev copy with its time, and its hint restores it", async () => {
    const path = join(await tempDir(), "state.json");
    const store = await openStore(path);
    await deployOnce(store);
    const good = store.snapshot();
    await deployOnce(store);
    await truncate(path, 40);
    const err = await corruptionOf(path);
    const prevTime = statSync(`${path}.prev`).mtime.toISOString();
    expect(err.message).toContain(`state file ${path} is corrupt: invalid JSON`);
    expect(err.message).toContain(`The last good copy is ${path}.prev (written ${prevTime}).`);
    execFileSync("sh", ["-c", hintCommands(err)]);
    expect((await openStore(path)).snapshot()).toEqual(good);
    const aside = (await readdir(join(path, ".."))).filter((n) => n.startsWith("state.json.corrupt-"));
    expect(aside).toHaveLength(1);
  });

  it("names the zod path of a value of the wrong type", async () => {
    const path = join(await tempDir(), "state.json");
    const store = await openStore(path);
    await deployOnce(store);
    const doc = (await readJson(path)) as { nextDeployId: unknown; apps: { web: { history: { outcome: unknown }[] } } };
    doc.nextDeployId = "7";
    doc.apps.web.history[0]!.outcome = "done";
    await writeFile(path, JSON.stringify(doc));
    const err = await corruptionOf(path);
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/does not match the state schema: nextDeployId: .*; apps\.web\.history\[0\]\.outcome: /);
    expect(err.message).toContain(`${path}.prev (written `);
  });

  it("names the schemaVersion found and the one supported", async () => {
    const path = join(await tempDir(), "state.json");
    await openStore(path);
    await writeFile(path, JSON.stringify({ schemaVersion: 2, nextDeployId: 1, apps: {}, extra: true }));
    const err = await corruptionOf(path);
    expect(err.message).toContain(`state file ${path} is corrupt: schemaVersion is 2, but this agent supports schemaVersion 1 only`);
    expect(err.message).toContain(`${path}.prev does not exist`);
  });

  it("says so when the .prev copy is corrupt as well", async () => {
    const path = join(await tempDir(), "state.json");
    await openStore(path);
    await writeFile(path, "");
    await writeFile(`${path}.prev`, "[]");
    const err = await corruptionOf(path);
    expect(err.message).toContain("the file is empty (0 bytes)");
    expect(err.message).toContain(`${path}.prev is not valid either (it does not match the state schema: (top level): `);
    expect(await readFile(`${path}.prev`, "utf8")).toBe("[]");
  });
});

describe("updates", () => {
  it("keeps the previous version as .prev", async () => {
    const path = join(await tempDir(), "state.json");
    const store = await openStore(path);
    const initial = store.snapshot();
    await deployOnce(store);
    expect(await readJson(`${path}.prev`)).toEqual(initial);
    const afterFirst = store.snapshot();
    await deployOnce(store);
    expect(await readJson(`${path}.prev`)).toEqual(afterFirst);
    expect(await readJson(path)).toEqual(store.snapshot());
    expect(statSync(`${path}.prev`).mode & 0o777).toBe(0o600);
  });

  it("hands out deep-frozen snapshots and an empty frozen app for unknown apps", async () => {
    const store = await openStore(join(await tempDir(), "state.json"));
    await deployOnce(store);
    const web = store.app("web");
    expect(Object.isFrozen(web.history[0]!.steps)).toBe(true);
    expect(() => {
      (store.snapshot() as State).nextDeployId = 9;
    }).toThrow(TypeError);
    expect(store.app("nope")).toEqual({ generation: 0, releases: [], skip: [], history: [] });
    expect(Object.isFrozen(store.app("nope").history)).toBe(true);
  });

  it("applies concurrent updates in call order, each seeing the one before", async () => {
    const store = await openStore(join(await tempDir(), "state.json"));
    const order: number[] = [];
    const ids = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        store.update(async (d) => {
          await new Promise((r) => setTimeout(r, (i * 7) % 5));
          order.push(i);
          return beginDeploy(d, { app: "web", trigger: "poll", version: `v${i}`, startedAt: T0 }).id;
        }),
      ),
    );
    expect(order).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(ids).toEqual(Array.from({ length: 30 }, (_, i) => String(i + 1)));
    expect(store.app("web").history.map((r) => r.version)[0]).toBe("v29");
  });

  it("leaves state and file unchanged when the update function throws", async () => {
    const path = join(await tempDir(), "state.json");
    const store = await openStore(path);
    await deployOnce(store);
    const before = store.snapshot();
    const fileBefore = await readFile(path, "utf8");
    const prevBefore = await readFile(`${path}.prev`, "utf8");
    const boom = new Error("boom");
    await expect(
      store.update((d) => {
        d.nextDeployId = 99;
        delete d.apps.web;
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(store.snapshot()).toBe(before);
    expect(await readFile(path, "utf8")).toBe(fileBefore);
    expect(await readFile(`${path}.prev`, "utf8")).toBe(prevBefore);
  });

  it("runs the updates queued behind a failing one", async () => {
    const store = await openStore(join(await tempDir(), "state.json"));
    const failing = store.update(async () => {
      await new Promise((r) => setTimeout(r, 5));
      throw new Error("boom");
    });
    const next = [deployOnce(store), deployOnce(store)];
    await expect(failing).rejects.toThrow("boom");
    expect(await Promise.all(next)).toEqual(["1", "2"]);
  });

  it("rejects a draft that breaks the schema, naming the path, and writes nothing", async () => {
    const path = join(await tempDir(), "state.json");
    const store = await openStore(path);
    await deployOnce(store);
    const before = store.snapshot();
    const fileBefore = await readFile(path, "utf8");
    const result = store.update((d) => {
      (d.apps.web!.history[0] as { outcome: string }).outcome = "bogus";
    });
    await expect(result).rejects.toThrow(/nothing written to .*state\.json: apps\.web\.history\[0\]\.outcome: /);
    expect(store.snapshot()).toBe(before);
    expect(await readFile(path, "utf8")).toBe(fileBefore);
  });

  it("keeps an update in memory when the directory refuses the write, says so once, and writes it when the directory allows", async () => {
    const dir = await tempDir();
    const path = join(dir, "state.json");
    const lines: string[] = [];
    const log = createLogger({ env: {}, destination: { write: (l: string) => void lines.push(l) } });
    const store = await StateStore.open(path, { log, historyLimit: 50, retryMs: 60_000 });
    await deployOnce(store);
    await rm(`${path}.prev`);
    // A non-empty directory where .prev goes makes every write fail with a real I/O error.
    await mkdir(join(`${path}.prev`, "blocker"), { recursive: true });
    const fileBefore = await readFile(path, "utf8");
    expect(await deployOnce(store)).toBe("2");
    expect(await deployOnce(store)).toBe("3");
    expect(store.app("web").history.map((r) => r.id)).toEqual(["3", "2", "1"]);
    expect(store.writeProblem?.message).toContain(`could not write state file ${path}`);
    expect(await readFile(path, "utf8")).toBe(fileBefore);
    expect((await readdir(dir)).sort()).toEqual(["state.json", "state.json.prev"]);
    expect(lines.filter((l) => l.includes("state file could not be written"))).toHaveLength(1);
    await rm(`${path}.prev`, { recursive: true });
    expect(await deployOnce(store)).toBe("4");
    expect(store.writeProblem).toBeUndefined();
    expect(lines.filter((l) => l.includes("state file written again"))).toHaveLength(1);
    expect((await openStore(path)).app("web").history.map((r) => r.id)).toEqual(["4", "3", "2", "1"]);
  });

  it("writes a state kept in memory by its retry timer, with no further update", async () => {
    const dir = await tempDir();
    const path = join(dir, "state.json");
    const store = await StateStore.open(path, { log: silentLogger(), historyLimit: 50, retryMs: 20 });
    await deployOnce(store);
    await rm(`${path}.prev`);
    await mkdir(join(`${path}.prev`, "blocker"), { recursive: true });
    await deployOnce(store);
    expect(store.writeProblem).toBeDefined();
    await rm(`${path}.prev`, { recursive: true });
    for (let i = 0; i < 500 && store.writeProblem; i++) await new Promise((r) => setTimeout(r, 10));
    expect(store.writeProblem).toBeUndefined();
    expect(State.parse(await readJson(path)).apps.web!.history).toHaveLength(2);
    await store.close();
  });

  it("rejects update() called from inside update() instead of hanging", async () => {
    const store = await openStore(join(await tempDir(), "state.json"));
    await store.update(async () => {
      await expect(store.update(() => 1)).rejects.toThrow(/called from inside update\(\)/);
    });
  });

  it("allocates deploy ids durably", async () => {
    const path = join(await tempDir(), "state.json");
    const store = await openStore(path);
    expect([await store.update((d) => allocateDeployId(d)), await store.update((d) => allocateDeployId(d))]).toEqual(["1", "2"]);
    expect((await openStore(path)).snapshot().nextDeployId).toBe(3);
  });
});

describe("bounds", () => {
  it("trims history to the limit, newest first, but keeps a running deploy", async () => {
    const path = join(await tempDir(), "state.json");
    const store = await openStore(path, { historyLimit: 3 });
    const runningId = await store.update((d) => beginDeploy(d, { app: "web", trigger: "cli", version: "v0", startedAt: T0 }).id);
    for (let i = 0; i < 5; i++) await deployOnce(store);
    await deployOnce(store, "api");
    expect(store.app("web").history.map((r) => r.id)).toEqual(["6", "5", "4", runningId]);
    expect(store.app("api").history.map((r) => r.id)).toEqual(["7"]);
    expect((await openStore(path, { historyLimit: 3 })).app("web").history).toHaveLength(4);
  });

  it("trims the skip list to 20 by default and to skipLimit when given, newest first", async () => {
    const dir = await tempDir();
    const addSkips = (store: StateStore): Promise<void> =>
      store.update((d) => {
        for (let i = 0; i < 25; i++) {
          const digest = `sha256:${i.toString(16).padStart(64, "0")}`;
          addSkip(d, "web", { digest, version: `v${i}`, reason: "failed", deployId: String(i), at: T0 });
        }
      });
    const byDefault = await openStore(join(dir, "a.json"));
    await addSkips(byDefault);
    expect(byDefault.app("web").skip.map((s) => s.version)).toEqual(Array.from({ length: 20 }, (_, i) => `v${24 - i}`));
    const limited = await openStore(join(dir, "b.json"), { skipLimit: 2 });
    await addSkips(limited);
    expect(limited.app("web").skip.map((s) => s.version)).toEqual(["v24", "v23"]);
  });
});

// Crash safety is tested on the compiled module in a child process that is SIGKILLed mid-burst.
// Only store.ts and transitions.ts (and what they import) are compiled, straight from the command
// line, so the tsconfig project (other modules mid-edit) is not involved. The output goes under
// the repo's .test-run/ (git-ignored) so that `zod` resolves from the repo's node_modules.
const REPO = fileURLToPath(new URL("../../", import.meta.url));
const CHILD = `
import { writeSync, rmSync } from "node:fs";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { createRequire, syncBuiltinESMExports } from "node:module";
const require = createRequire(import.meta.url);
const [file, killAt] = process.argv.slice(2);
if (killAt) {
  // "<when>:<op>:<n>": SIGKILL ourselves before/after/halfway through the n-th call of fs op.
  const [when, op, n] = killAt.split(":");
  let calls = 0;
  const die = () => process.kill(process.pid, "SIGKILL");
  const wrap = (orig) => async function (...args) {
    const hit = ++calls === Number(n);
    if (hit && when === "before") die();
    if (hit && when === "half") { await orig.call(this, String(args[0]).slice(0, args[0].length >> 1)); die(); }
    const result = await orig.apply(this, args);
    if (hit && when === "after") die();
    return result;
  };
  const fsp = require("node:fs/promises");
  if (op === "sync" || op === "writeFile") {
    const probe = tmpdir() + "/state-crash-probe-" + process.pid;
    const fh = await fsp.open(probe, "w");
    const proto = Object.getPrototypeOf(fh);
    await fh.close();
    rmSync(probe);
    proto[op] = wrap(proto[op]);
  } else {
    fsp[op] = wrap(fsp[op]);
    syncBuiltinESMExports();
  }
}
const { StateStore } = await import("./agent/state/store.js");
const t = await import("./agent/state/transitions.js");
const { silentLogger } = await import("./agent/log.js");
const store = await StateStore.open(file, { log: silentLogger(), historyLimit: 8, skipLimit: 5 });
writeSync(1, "ready\\n");
const pad = "x".repeat(2000);
for (;;) {
  const next = await store.update((d) => {
    const now = new Date().toISOString();
    const rec = t.beginDeploy(d, { app: "web", trigger: "poll", version: "v" + d.nextDeployId, startedAt: now });
    for (const step of ["resolve", "pull", "create", "start", "confirm", "drain", "stop", "record"]) {
      t.startStep(rec, step, now);
      t.endStep(rec, step, now, pad);
    }
    const digest = "sha256:" + createHash("sha256").update(rec.id).digest("hex");
    rec.digest = digest;
    const failed = Number(rec.id) % 3 === 0;
    t.finishDeploy(d, "web", rec.id, { outcome: failed ? "failed" : "succeeded", endedAt: now });
    if (failed) t.addSkip(d, "web", { digest, version: rec.version, reason: "failed", deployId: rec.id, at: now });
    else {
      const release = { deployId: rec.id, version: rec.version, digest, imageId: "sha256:img" + rec.id, deployedAt: now };
      const live = { ...release, slot: Number(rec.id) % 2 ? "blue" : "green", generation: rec.generation, since: now };
      delete live.deployedAt;
      t.promoteLive(d, "web", release, live, 3);
    }
    return d.nextDeployId;
  });
  writeSync(1, "acked " + next + "\\n");
}
`;

describe("crash safety", () => {
  let outDir = "";

  beforeAll(async () => {
    await mkdir(join(REPO, ".test-run"), { recursive: true });
    outDir = await mkdtemp(join(REPO, ".test-run", "state-crash-"));
    const tsc = join(REPO, "node_modules", "typescript", "bin", "tsc");
    const flags = ["--outDir", outDir, "--rootDir", REPO, "--module", "NodeNext", "--moduleResolution", "NodeNext"];
    flags.push("--target", "ES2022", "--lib", "ES2023,ESNext.Disposable", "--types", "node", "--skipLibCheck", "--strict");
    execFileSync(process.execPath, [tsc, ...flags, "agent/state/store.ts", "agent/state/transitions.ts"], { cwd: REPO });
    await writeFile(join(outDir, "crash-child.mjs"), CHILD);
  });

  afterAll(async () => {
    if (outDir) await rm(outDir, { recursive: true, force: true });
  });

  /** Runs the child until it dies; kills it `killAfterMs` after it is ready when given. */
  function runChild(file: string, opts: { killAt?: string; killAfterMs?: number }) {
    return new Promise<{ signal: NodeJS.Signals | null; acked: number; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [join(outDir, "crash-child.mjs"), file, opts.killAt ?? ""]);
      let out = "";
      let stderr = "";
      const guard = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`crash child for ${JSON.stringify(opts)} did not die within 30s: ${stderr}`));
      }, 30_000);
      child.stdout.on("data", (b: Buffer) => {
        out += b.toString();
        if (opts.killAfterMs !== undefined && out.startsWith("ready\n") && !child.killed) {
          setTimeout(() => child.kill("SIGKILL"), opts.killAfterMs);
        }
      });
      child.stderr.on("data", (b: Buffer) => (stderr += b.toString()));
      child.on("error", reject);
      child.on("exit", (_code, signal) => {
        clearTimeout(guard);
        const acks = [...out.matchAll(/^acked (\d+)$/gm)].map((m) => Number(m[1]));
        resolve({ signal, acked: Math.max(0, ...acks), stderr });
      });
    });
  }

  it("leaves a state file that opens and validates after every one of 33 SIGKILLs during a burst of updates", async () => {
    const dir = await tempDir();
    const file = join(dir, "state.json");
    const points = ["half:writeFile:2", "before:sync:1", "after:sync:1", "after:link:1", "after:rename:1"];
    points.push("after:rename:2", "before:sync:2", "after:rename:3", "half:writeFile:3");
    const cycles = [
      ...points.map((killAt) => ({ killAt })),
      ...Array.from({ length: 24 }, (_, i) => ({ killAfterMs: 3 + ((i * 13) % 50) })),
    ];
    let lastNext = 1;
    let interruptedWrites = 0;
    for (const cycle of cycles) {
      const { signal, acked, stderr } = await runChild(file, cycle);
      expect(signal, `child for ${JSON.stringify(cycle)} ended without SIGKILL: ${stderr}`).toBe("SIGKILL");
      if ((await readdir(dir)).some((n) => n.startsWith(".state.json.tmp-"))) interruptedWrites++;
      const store = await openStore(file, { historyLimit: 8, skipLimit: 5 });
      const next = store.snapshot().nextDeployId;
      expect(next, "every acknowledged update survives the kill").toBeGreaterThanOrEqual(acked);
      expect(next).toBeGreaterThanOrEqual(lastNext);
      lastNext = next;
      if (existsSync(`${file}.prev`)) {
        expect(State.safeParse(JSON.parse(readFileSync(`${file}.prev`, "utf8"))).success).toBe(true);
      }
      expect((await readdir(dir)).filter((n) => n.startsWith(".state.json.tmp-"))).toEqual([]);
    }
    expect(lastNext, "the children made progress between kills").toBeGreaterThan(5);
    // The deterministic kill points alone leave temp files; this proves writes were really cut.
    expect(interruptedWrites).toBeGreaterThanOrEqual(5);
  });
});
