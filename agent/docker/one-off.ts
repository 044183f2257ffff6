// A release step's one-off container (predeploy, postdeploy), once created: started, waited for
// with the Engine's wait API up to its timeout, killed at the timeout, its last output lines read,
// and removed whatever happened. Internal to docker/: owned-engine.ts creates it (ownership checks
// included) and hands it here.
import { abortReason } from "../abort.js";
import { AgentError } from "../errors.js";
import { statusOf, type EngineClient } from "./client.js";
import { removeContainer, startContainer, tailLogs } from "./containers.js";

export interface OneOffOptions {
  /** How long the command may run before it is killed (SIGKILL). */
  timeoutMs: number;
  /** How many of its last output lines are kept. */
  tailLines: number;
  /** How messages name it: "the predeploy of web". */
  label: string;
  /** The agent stopping (SIGTERM): the one-off is killed and removed, and DEPLOY_ABORTED thrown. */
  signal?: AbortSignal | undefined;
}

/** How the one-off ended; `exitCode` is the Engine's (137 when it was killed at its timeout). */
export interface OneOffResult {
  exitCode: number;
  timedOut: boolean;
  output: string;
  /** The command's own run time as the Engine reports it (State.StartedAt to FinishedAt). */
  durationMs?: number;
}

/** Runs the created one-off `id` to its end and removes it; on any failure it is removed too. */
export async function runCreated(c: EngineClient, id: string, opts: OneOffOptions): Promise<OneOffResult> {
  let result: OneOffResult;
  try {
    result = await runToEnd(c, id, opts);
  } catch (err) {
    // The first error is what is reported; a one-off the Engine would not remove now goes at the next run or reconcile.
    await removeContainer(c, id).catch(() => undefined);
    throw err;
  }
  await removeContainer(c, id);
  return result;
}

async function runToEnd(c: EngineClient, id: string, opts: OneOffOptions): Promise<OneOffResult> {
  await startContainer(c, id);
  const ended = await waitExit(c, id, opts.timeoutMs, opts.signal);
  if (ended === "aborted") {
    await killContainer(c, id);
    throw new AgentError("DEPLOY_ABORTED", `${opts.label} was stopped and removed: ${abortReason(opts.signal)}`);
  }
  const timedOut = ended === "timeout";
  let exitCode = typeof ended === "number" ? ended : 137;
  if (timedOut) {
    await killContainer(c, id);
    exitCode = await c.call(`wait for container ${id}`, (abortSignal) => c.docker.getContainer(id).wait({ abortSignal }).then((r: { StatusCode: number }) => r.StatusCode));
  }
  const durationMs = await runTime(c, id);
  const output = await tailLogs(c, id, opts.tailLines);
  return { exitCode, timedOut, output, ...(durationMs !== undefined ? { durationMs } : {}) };
}

/** The exit code, or why the wait ended first; the Engine's wait is cut off either way. */
async function waitExit(c: EngineClient, id: string, ms: number, signal: AbortSignal | undefined): Promise<number | "timeout" | "aborted"> {
  const ctl = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const cut = new Promise<"timeout" | "aborted">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
    onAbort = () => resolve("aborted");
    if (signal?.aborted) resolve("aborted");
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  const waited = c.docker
    .getContainer(id)
    .wait({ abortSignal: ctl.signal })
    .then((r: { StatusCode: number }) => r.StatusCode);
  // Aborted below once the race is decided; that rejection is nobody's to handle.
  waited.catch(() => undefined);
  try {
    return await Promise.race([waited, cut]);
  } catch (err) {
    throw c.mapError(`wait for container ${id}`, err);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener("abort", onAbort);
    ctl.abort();
  }
}

/** SIGKILL; a container already stopped (409) or gone (404) counts as killed. */
async function killContainer(c: EngineClient, id: string): Promise<void> {
  try {
    await c.call(`kill of container ${id}`, (abortSignal) => c.docker.getContainer(id).kill({ abortSignal }));
  } catch (err) {
    const s = statusOf(err);
    if (s === 404 || s === 409) return;
    throw err;
  }
}

async function runTime(c: EngineClient, id: string): Promise<number | undefined> {
  const info = await c.call(`inspect of container ${id}`, (abortSignal) => c.docker.getContainer(id).inspect({ abortSignal }));
  const ms = Date.parse(info.State.FinishedAt) - Date.parse(info.State.StartedAt);
  return Number.isFinite(ms) && ms >= 0 ? ms : undefined;
}
