// Runs the real daemon (or `deploy-agent --check`) to its exit, for the stories about a daemon that
// must refuse to start: what it printed, how it exited, and which log messages it got to.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { DAEMON } from "./agent.js";

export interface DaemonRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The `msg` of every pino line on stdout, in order. */
  messages: string[];
}

/** Runs `deploy-agent <args>` and resolves when it exits; kills it after `timeoutMs` (then code is null). */
export function runDaemon(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 20_000): Promise<DaemonRun> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [DAEMON, ...args], {
      env: { ...process.env, JOURNAL_STREAM: "", LOG_FORMAT: "", CREDENTIALS_DIRECTORY: "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("exit", (code) => {
      clearTimeout(timer);
      res({ code, stdout, stderr, messages: pinoMessages(stdout) });
    });
  });
}

function pinoMessages(text: string): string[] {
  return text.split("\n").flatMap((l) => {
    try {
      const msg = (JSON.parse(l) as { msg?: unknown }).msg;
      return typeof msg === "string" ? [msg] : [];
    } catch {
      return [];
    }
  });
}

/** The id of `app`'s running deploy when its newest step is `step` and still open, read from the state file. */
export function runningDeployIn(statePath: string, app: string, step: string): string | undefined {
  let state: { apps?: Record<string, { history: { id: string; outcome: string; steps: { name: string; endedAt?: string }[] }[] }> };
  try {
    state = JSON.parse(readFileSync(statePath, "utf8")) as typeof state;
  } catch {
    return undefined;
  }
  const newest = state.apps?.[app]?.history[0];
  const last = newest?.steps.at(-1);
  return newest?.outcome === "running" && last?.name === step && last.endedAt === undefined ? newest.id : undefined;
}
