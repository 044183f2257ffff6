// Runs the real daemon (dist/agent/daemon/main.js) and the real agentctl as child processes, with a
// config written to a temp dir. Story tests drive the agent only the way a person would.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import http from "node:http";
import { call, resolveSocketPath } from "../../agent/cli/client.js";
import { RESULT_SCHEMAS, type AppStatus, type VerbResult } from "../../agent/control/protocol.js";
import type { DeployRecord } from "../../agent/state/schema.js";
import { TEST_RUN_LABEL } from "./images.js";

/** The checkout's root: the nearest folder above this file with a package.json (this file also runs compiled, from dist/). */
export const ROOT = ((): string => {
  let dir = import.meta.dirname;
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();
export const DAEMON = join(ROOT, "dist/agent/daemon/main.js");
export const AGENTCTL = join(ROOT, "dist/agent/cli/agentctl.js");

export interface AgentProcess {
  dir: string;
  configPath: string;
  socket: string;
  statePath: string;
  child: ChildProcess;
  /** Every line the daemon printed (pino JSON), in order. */
  lines: string[];
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function makeAgentDir(prefix = "da-story-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export interface StoryAppOptions {
  schedule?: string;
  drain?: string;
  settle?: string;
  /** The route's network; by default one per app. */
  network?: string;
  /** How often the Engine probes the app's containers (health.interval); the agent's 1 s by default. */
  healthInterval?: string;
}

/**
 * One app's block under `apps:` as the stories use it: polled every 2 s, routed by Host(`<app>.test`),
 * short drain and settle, and labelled with the test run so cleanup finds it.
 */
export function storyApp(app: string, image: string, runId: string, opts: StoryAppOptions = {}): string {
  return `
  ${app}:
    image: ${image}
    track: latest
    schedule: "${opts.schedule ?? "*/2 * * * * *"}"
    port: 8000
    health: { path: /health, startTimeout: 30s${opts.healthInterval ? `, interval: ${opts.healthInterval}` : ""} }
    route: { rule: "Host(\`${app}.test\`)", network: "${opts.network ?? `da-net-${app}`}" }
    drain: ${opts.drain ?? "1s"}
    settle: ${opts.settle ?? "1s"}
    stopTimeout: 5s
    labels: { ${TEST_RUN_LABEL}: "${runId}" }`;
}

/** A whole agent.yaml: state file and socket in `dir`, then the given `storyApp` blocks. */
export function agentYaml(dir: string, ...apps: string[]): string {
  return `state: ${dir}/state.json
socket: ${dir}/agent.sock
apps:${apps.join("")}
`;
}

/**
 * One `backend: swarm` app's block under `apps:` as the Swarm stories use it: two replicas, polled
 * every 2 s, a wget health check every 500 ms with 3 s to start (so each task's update monitor is
 * 4.5 s), routed on the overlay network `network`, and labelled with the test run.
 */
export function swarmStoryApp(app: string, image: string, runId: string, network: string, opts: { backend?: "swarm" | "container"; extra?: string } = {}): string {
  const swarmKeys = (opts.backend ?? "swarm") === "swarm" ? "\n    backend: swarm\n    replicas: 2" : "";
  return `
  ${app}:
    image: ${image}${swarmKeys}
    track: latest
    schedule: "*/2 * * * * *"
    port: 8000
    health: { path: /health, command: "wget -q -O /dev/null http://127.0.0.1:8000/health", startTimeout: 3s, interval: 500ms }
    route: { rule: "Host(\`${app}.test\`)", network: ${network} }
    stopTimeout: 2s
    labels: { ${TEST_RUN_LABEL}: "${runId}" }${opts.extra ?? ""}`;
}

/** Writes agent.yaml into `dir` and returns its path. */
export function writeConfig(dir: string, yaml: string): string {
  const path = join(dir, "agent.yaml");
  writeFileSync(path, yaml);
  return path;
}

/** Starts the daemon and waits until its control socket answers; `env` adds to the daemon's environment. */
export async function startAgent(dir: string, opts: { waitReady?: boolean; env?: NodeJS.ProcessEnv; statePath?: string } = {}): Promise<AgentProcess> {
  const configPath = join(dir, "agent.yaml");
  const socket = join(dir, "agent.sock");
  const child = spawn(process.execPath, [DAEMON, "--config", configPath], {
    env: { ...process.env, LOG_LEVEL: "debug", JOURNAL_STREAM: "", LOG_FORMAT: "", ...opts.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: string[] = [];
  let buf = "";
  const onData = (d: Buffer) => {
    buf += d.toString("utf8");
    let i: number;
    while ((i = buf.indexOf("\n")) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<number | null>((res) => child.on("exit", (code, sig) => res(code ?? (sig ? -1 : null))));
  const agent: AgentProcess = {
    dir,
    configPath,
    socket,
    statePath: opts.statePath ?? join(dir, "state.json"),
    child,
    lines,
    exited,
    async stop(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
  if (opts.waitReady !== false) {
    const deadline = Date.now() + 30_000;
    while (!lines.some((l) => l.includes('"deploy-agent ready"'))) {
      if (child.exitCode !== null) throw new Error(`daemon exited with ${child.exitCode} before it was ready:\n${lines.join("\n")}`);
      if (Date.now() > deadline && child.kill("SIGKILL")) throw new Error(`daemon not ready within 30s:\n${lines.join("\n")}`);
      await sleep(100);
    }
  }
  return agent;
}

export interface CtlResult {
  code: number | null;
  stdout: string;
  stderr: string;
  json?: unknown;
}

/** Runs agentctl with `args` against the agent's socket (found through --config, as a person would). */
export function agentctl(agent: Pick<AgentProcess, "configPath">, args: string[], opts: { json?: boolean } = {}): Promise<CtlResult> {
  const full = ["--config", agent.configPath, ...(opts.json ? ["--json"] : []), ...args];
  return new Promise((res) => {
    const child = spawn(process.execPath, [AGENTCTL, ...full], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("exit", (code) => {
      const r: CtlResult = { code, stdout, stderr };
      if (opts.json) {
        try {
          r.json = JSON.parse(stdout);
        } catch {
          // left undefined: the test asserts on it
        }
      }
      res(r);
    });
  });
}

export function readState(agent: Pick<AgentProcess, "statePath">): unknown {
  return existsSync(agent.statePath) ? JSON.parse(readFileSync(agent.statePath, "utf8")) : undefined;
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Polls `fn` until it returns a truthy value or `timeoutMs` passes; then throws with `what`, and
 * with what `explain` says about the state then (say, the app's deploys), when given.
 */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 60_000,
  everyMs = 200,
  explain?: () => Promise<string>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const state = explain ? await explain().catch((err: unknown) => `(could not say: ${String(err)})`) : "";
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${last ? `: ${String(last)}` : ""}${state ? `\n${state}` : ""}`);
    }
    await sleep(everyMs);
  }
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One GET through `base` (the Traefik model) with the given Host header. */
export function get(base: string, host: string, path = "/version", timeoutMs = 5000): Promise<HttpAnswer> {
  return new Promise((res, rej) => {
    const req = http.get(`${base}${path}`, { headers: { host }, timeout: timeoutMs, agent: false }, (r) => {
      let body = "";
      r.on("data", (d: Buffer) => (body += d.toString()));
      r.on("end", () => res({ status: r.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", rej);
  });
}

/** What Traefik's pick answers for `GET /version` with Host `host` through `base`, or undefined unless it answers 200. */
export async function servedVersion(base: string, host: string): Promise<string | undefined> {
  const a = await get(base, host).catch(() => undefined);
  return a?.status === 200 ? a.body : undefined;
}

/**
 * What `agentctl --json status <app>` prints: the app's entry of the daemon's status answer, asked on
 * its control socket from this process and checked against the control protocol's schema. Stories
 * poll it every 200 ms; an agentctl process per poll (a Node start each) kept both cores busy.
 */
export async function appStatus(agent: Pick<AgentProcess, "configPath">, app: string): Promise<AppStatus> {
  const report = await statusReport(agent, app);
  const entry = report.apps.find((a) => a.app === app);
  if (entry === undefined) throw new Error(`status ${app} has no entry for ${app}: ${JSON.stringify(report).slice(0, 500)}`);
  return entry;
}

/** The daemon's whole status answer (`agentctl --json status [app]`), asked on its control socket as appStatus does. */
export function statusReport(agent: Pick<AgentProcess, "configPath">, app?: string): Promise<VerbResult<"status">> {
  return call({ socketPath: resolveSocketPath({ config: agent.configPath }), verb: "status", body: app === undefined ? {} : { app }, result: RESULT_SCHEMAS.status });
}

/** What `agentctl --json history <app> --limit 50` prints, newest first, asked on the control socket as appStatus does. */
export async function deployHistory(agent: Pick<AgentProcess, "configPath">, app: string): Promise<DeployRecord[]> {
  return call({ socketPath: resolveSocketPath({ config: agent.configPath }), verb: "history", body: { app, limit: 50 }, result: RESULT_SCHEMAS.history });
}

/** `app`'s last deploys, one line each (id, trigger, outcome, last step, error), for a failure's message. */
export async function deploysSaid(agent: Pick<AgentProcess, "configPath">, app: string, count = 6): Promise<string> {
  const lines = (await deployHistory(agent, app)).slice(0, count).map((r) => {
    const err = r.error ? ` ${r.error.code}: ${r.error.message.slice(0, 160)}` : "";
    return `  deploy ${r.id} ${r.trigger} ${(r.digest ?? "-").slice(7, 19)} ${r.outcome} at ${r.steps.at(-1)?.name ?? "-"}${err}`;
  });
  return `${app}'s last deploys, newest first:\n${lines.join("\n")}`;
}

/** Waits until `app`'s newest deploy record is finished (serving comes before the drain) and returns it. */
export async function settledDeploy(agent: Pick<AgentProcess, "configPath">, app: string, timeoutMs = 60_000): Promise<DeployRecord> {
  return waitFor(`the deploy of ${app} to finish`, async () => {
    const newest = (await deployHistory(agent, app))[0];
    return newest !== undefined && newest.outcome !== "running" ? newest : undefined;
  }, timeoutMs);
}

/** The daemon's log lines (pino JSON) with message `msg` about `app`, from line `from` on. */
export function loggedLines(agent: Pick<AgentProcess, "lines">, msg: string, app: string, from = 0): Record<string, unknown>[] {
  return agent.lines.slice(from).flatMap((l) => {
    try {
      const line = JSON.parse(l) as Record<string, unknown>;
      return line.msg === msg && line.app === app ? [line] : [];
    } catch {
      return [];
    }
  });
}

/** VmRSS (all resident pages, including the node executable's shared file pages) and RssAnon (the process's own memory), in MB. */
export function rssMb(pid: number): { rss: number; anon: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return { rss: kb("VmRSS") / 1024, anon: kb("RssAnon") / 1024 };
}

export interface RequestLoop {
  /** Stops the loop and returns what it saw. */
  stop(): Promise<{ ok: number; failed: { at: number; what: string }[]; bodies: { at: number; body: string }[] }>;
}

/** A steady stream of requests (one at a time, `gapMs` apart), as a user's browser would send. */
export function requestLoop(base: string, host: string, gapMs = 20): RequestLoop {
  let running = true;
  let ok = 0;
  const failed: { at: number; what: string }[] = [];
  const bodies: { at: number; body: string }[] = [];
  const done = (async () => {
    while (running) {
      const at = Date.now();
      try {
        const a = await get(base, host);
        if (a.status === 200) {
          ok++;
          bodies.push({ at, body: a.body });
        } else failed.push({ at, what: `HTTP ${a.status} ${a.body.slice(0, 80)}` });
      } catch (err) {
        failed.push({ at, what: (err as Error).message });
      }
      await sleep(gapMs);
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return { ok, failed, bodies };
    },
  };
}
