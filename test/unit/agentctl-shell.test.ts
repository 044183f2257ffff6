// agentctl in a person's shell: real bash (and zsh and fish when installed) completing through the compiled
// agentctl on PATH, with app names from a scripted daemon on a temp socket or from --config; and
// status --watch in a child process, refreshing until Ctrl-C.
import { spawn, spawnSync } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { AgentApi, StatusReport } from "../../agent/control/api.js";
import { startControlServer, type ControlServer } from "../../agent/control/server.js";
import { silentLogger } from "../../agent/log.js";
import { compileAgentctl, collect, runAgentctl, type CompiledAgentctl, type Run } from "../support/compiled-agentctl.js";

const AT = "2025-01-01T10:00:00.000Z";
const REPORT: StatusReport = {
  version: "0.1.0",
  pid: 4242,
  startedAt: AT,
  apps: ["web", "api"].map((app) => ({ app, image: `ghcr.io/acme/${app}`, track: "latest", schedule: "*/5 * * * *", paused: false, releases: [], skip: [], containers: [] })),
};

let compiled: CompiledAgentctl;
let bin: string;
let dir: string;
let socket: string;
let server: ControlServer | undefined;

beforeAll(async () => {
  compiled = await compileAgentctl();
  bin = join(compiled.work, "bin");
  await mkdir(bin);
  await writeFile(join(bin, "agentctl"), `#!/bin/sh\nexec ${process.execPath} ${compiled.path} "$@"\n`);
  await chmod(join(bin, "agentctl"), 0o755);
  for (const shell of ["bash", "zsh", "fish"]) {
    const r = await runAgentctl(compiled.path, ["completion", shell]);
    if (r.code !== 0) throw new Error(`agentctl completion ${shell} exited ${r.code}: ${r.stderr}`);
    await writeFile(join(compiled.work, `agentctl.${shell}`), r.stdout);
  }
}, 120_000);

afterAll(async () => {
  await compiled.remove();
});

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "agentctl-shell-"));
  socket = join(dir, "agent.sock");
});

afterEach(async () => {
  await server?.close();
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

async function daemon(): Promise<void> {
  const status: AgentApi["status"] = async () => REPORT;
  server = await startControlServer({ socketPath: socket, api: { status } as AgentApi, log: silentLogger() });
}

const env = (): NodeJS.ProcessEnv => ({ ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` });

/** What bash offers at Tab for `line` (a trailing space starts a new word), from the script agentctl printed. */
async function bashComplete(line: string): Promise<{ words: string[]; stderr: string }> {
  const script = `source "$1"
read -ra COMP_WORDS <<<"$2"
[[ $2 == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
_agentctl
printf '%s\\n' "\${COMPREPLY[@]}"`;
  const r = await collect(spawn("bash", ["--norc", "--noprofile", "-c", script, "bash", join(compiled.work, "agentctl.bash"), line], { env: env() }));
  return { words: r.stdout.split("\n").filter((w) => w !== ""), stderr: r.stderr };
}

describe("completion in a real shell", () => {
  it("completes verbs, a verb's flags, fixed arguments and the daemon's app names in bash", async () => {
    await daemon();
    expect((await bashComplete("agentctl st")).words).toEqual(["status"]);
    expect((await bashComplete("agentctl --json h")).words).toEqual(["history", "help"]);
    expect((await bashComplete("agentctl status --w")).words).toEqual(["--watch"]);
    expect((await bashComplete("agentctl history --l")).words).toEqual(["--limit"]);
    expect((await bashComplete("agentctl completion ")).words).toEqual(["bash", "zsh", "fish"]);
    expect((await bashComplete(`agentctl --socket ${socket} status `)).words).toEqual(["web", "api"]);
    expect((await bashComplete(`agentctl --socket ${socket} deploy a`)).words).toEqual(["api"]);
    expect((await bashComplete(`agentctl --socket ${socket} deploy web `)).words).toEqual([]);
  });

  it("completes app names from the --config file on the line while no daemon runs", async () => {
    const config = join(dir, "agent.yaml");
    await writeFile(config, "apps:\n  blog:\n    image: ghcr.io/acme/blog\n  shop:\n    image: ghcr.io/acme/shop\n");
    expect((await bashComplete(`agentctl --config ${config} rollback `)).words).toEqual(["blog", "shop"]);
  });

  it("offers no app names and prints nothing into the line when the daemon is down", async () => {
    const r = await bashComplete(`agentctl --socket ${socket} status `);
    expect(r).toEqual({ words: [], stderr: "" });
  });

  it("completes verbs and the daemon's app names in fish (skipped when fish is not installed)", async (ctx) => {
    if (spawnSync("fish", ["-c", "exit 0"]).status !== 0) ctx.skip();
    await daemon();
    const complete = async (line: string): Promise<string[]> => {
      const cmd = `source ${join(compiled.work, "agentctl.fish")}; complete -C ${JSON.stringify(line)}`;
      const r = await collect(spawn("fish", ["--no-config", "-c", cmd], { env: env() }));
      return r.stdout.split("\n").filter((w) => w !== "").map((w) => w.split("\t")[0] ?? "");
    };
    expect(await complete("agentctl sta")).toEqual(["status"]);
    expect(await complete(`agentctl --socket ${socket} status `)).toEqual(["api", "web"]);
  });

  it("offers verbs, a verb's flags and the daemon's app names in zsh (skipped when zsh is not installed)", async (ctx) => {
    if (spawnSync("zsh", ["-c", "exit 0"]).status !== 0) ctx.skip();
    await daemon();
    // zsh's completion system itself needs a terminal; its two builtins the script calls print what they are offered instead.
    const offered = async (line: string): Promise<string[]> => {
      const script = `compdef() { :; }; _files() { :; }
compadd() { [[ $1 == -- ]] && shift; print -l -- "$@"; }
_describe() { print -l -- "\${(@)\${(P)2}%%:*}"; }
source "$1"
words=(\${(z)2}); [[ $2 == *" " ]] && words+=("")
CURRENT=\${#words}
_agentctl`;
      const r = await collect(spawn("zsh", ["-f", "-c", script, "zsh", join(compiled.work, "agentctl.zsh"), line], { env: env() }));
      if (r.stderr !== "") throw new Error(r.stderr);
      return r.stdout.split("\n").filter((w) => w !== "");
    };
    expect(await offered("agentctl st")).toEqual(expect.arrayContaining(["status", "deploy", "completion", "help"]));
    expect(await offered("agentctl status --w")).toEqual(expect.arrayContaining(["--watch", "--interval", "--json"]));
    expect(await offered("agentctl history --l")).not.toContain("--watch");
    expect(await offered(`agentctl --socket ${socket} status `)).toEqual(["web", "api"]);
    expect(await offered("agentctl completion ")).toEqual(["bash", "zsh", "fish"]);
  });

  it("refuses an unknown shell naming the argument and the three it knows, with exit status 2", async () => {
    const r = await runAgentctl(compiled.path, ["completion", "ksh"]);
    expect(r).toEqual({ code: 2, stdout: "", stderr: 'agentctl: completion: shell: expected one of bash, zsh, fish, got "ksh"\nhint: agentctl completion bash\n' });
  });
});

/** Waits for `what` in the child's output as it arrives; fails after 20 s. */
function waitFor(output: () => string, what: (text: string) => boolean, label: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + 20_000;
    const tick = setInterval(() => {
      if (what(output())) {
        clearInterval(tick);
        resolve();
      } else if (Date.now() > deadline) {
        clearInterval(tick);
        reject(new Error(`no ${label} within 20s; output so far:\n${output()}`));
      }
    }, 20);
  });
}

const count = (text: string, needle: string): number => text.split(needle).length - 1;

describe("status --watch", () => {
  it("appends a refresh per interval into a pipe, keeps asking while the daemon is away, and exits 0 on Ctrl-C", async () => {
    const child = spawn(process.execPath, [compiled.path, "--socket", socket, "status", "--watch", "--interval", "100ms"], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (out += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (out += c));
    const done: Promise<Run> = new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout: out, stderr: "" })));
    await waitFor(() => out, (t) => count(t, `agentctl: no control socket at ${socket}`) >= 2, "two refreshes without a daemon");
    await daemon();
    await waitFor(() => out, (t) => count(t, "web  ghcr.io/acme/web") >= 2, "two refreshes from the daemon");
    child.kill("SIGINT");
    const r = await done;
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("Every 100ms: agentctl status");
    expect(r.stdout).toContain("asking again every 100ms; Ctrl-C to stop");
    expect(r.stdout).not.toContain("\u001b");
  });

  it("refuses --watch with --json and --interval without --watch, with exit status 2", async () => {
    const both = await runAgentctl(compiled.path, ["--socket", socket, "--json", "status", "--watch"]);
    expect(both.code).toBe(2);
    expect(JSON.parse(both.stdout).error.message).toBe("--watch draws for a person and cannot be combined with --json (one JSON document per run)");
    const lone = await runAgentctl(compiled.path, ["--socket", socket, "status", "--interval", "5s"]);
    expect(lone.code).toBe(2);
    expect(lone.stderr).toContain("--interval only applies with --watch");
    const bad = await runAgentctl(compiled.path, ["--socket", socket, "status", "--watch", "--interval", "5"]);
    expect(bad.stderr).toContain('--interval: expected a duration from 100ms to 1h such as "5s", got "5"');
    const value = await runAgentctl(compiled.path, ["--socket", socket, "status", "--watch=yes"]);
    expect(value.stderr).toContain('--watch takes no value, got "yes"');
  });
});
