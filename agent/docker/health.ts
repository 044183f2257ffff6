// Green's health: the Docker health check it is created with (Traefik's docker provider skips
// containers whose health is not `healthy`) and the wait until both Docker and the agent's own
// probe say healthy.
import http from "node:http";
import { abortReason } from "../abort.js";
import { deadline, monotonicNow, type MonotonicClock } from "../clock.js";
import { AgentError } from "../errors.js";
import { AGENT_LABELS, PROBE_ROLE } from "../labels.js";
import { sleep } from "../sleep.js";
import type { EngineClient } from "./client.js";
import { ping } from "./liveness.js";
import { createContainer, inspectContainer, pathExists, removeContainer, tailLogs } from "./containers.js";
import { ownerLabels } from "./ownership.js";
import { commandHealthcheck, healthTiming } from "./healthcheck.js";
import type { HealthConfig, ImageView, Owner } from "./types.js";

export interface HealthSpec {
  path: string;
  port: number;
  intervalMs: number;
  startTimeoutMs: number;
  command?: string | undefined;
}

export type HealthSource = "config" | "image" | "agent";

/** Probe programs the agent looks for in an image, in order, with the argv that checks a URL. */
const PROBES: { paths: string[]; argv: (bin: string, url: string) => string[] }[] = [
  { paths: ["/usr/bin/curl", "/bin/curl", "/usr/local/bin/curl"], argv: (b, u) => [b, "-fsS", "-o", "/dev/null", "--max-time", "2", u] },
  // No -T: Debian's static busybox 1.35 wget segfaults with it (exit 139); Docker's Timeout bounds the probe anyway.
  { paths: ["/usr/bin/wget", "/bin/wget", "/usr/local/bin/wget"], argv: (b, u) => [b, "-q", "-O", "/dev/null", u] },
  {
    paths: ["/usr/bin/python3", "/usr/local/bin/python3"],
    argv: (b, u) => [b, "-c", `import urllib.request; urllib.request.urlopen(${JSON.stringify(u)}, timeout=2)`],
  },
  {
    paths: ["/usr/bin/node", "/usr/local/bin/node"],
    argv: (b, u) => [
      b,
      "-e",
      `require("http").get(${JSON.stringify(u)},{timeout:2000},r=>process.exit(r.statusCode<400?0:1)).on("error",()=>process.exit(1))`,
    ],
  },
];


/**
 * The health check green is created with (docs/design.md#choosing-the-health-check): the
 * configured command, else the image's HEALTHCHECK, else one built from a probe program found in
 * the image. Throws NO_HEALTHCHECK when none can be had, before anything is started.
 */
export async function chooseHealthcheck(
  c: EngineClient,
  owner: Owner,
  image: ImageView,
  app: string,
  spec: HealthSpec,
): Promise<{ healthcheck: HealthConfig; source: HealthSource; test: string[] }> {
  const timing = healthTiming(spec.intervalMs, spec.startTimeoutMs);
  if (spec.command !== undefined) {
    const healthcheck = commandHealthcheck(spec.command, spec.intervalMs, spec.startTimeoutMs);
    return { healthcheck, source: "config", test: healthcheck.Test };
  }
  const own = image.healthcheck;
  if (own && own.length > 0 && own[0] !== "NONE") {
    // An empty Test inherits the image's command while our timing applies (the Engine merges them).
    return { healthcheck: { Test: [], ...timing }, source: "image", test: own };
  }
  const url = `http://127.0.0.1:${spec.port}${spec.path}`;
  const found = await findProbe(c, owner, image.id, app);
  if (found) {
    const test = ["CMD", ...found.argv(found.bin, url)];
    return { healthcheck: { Test: test, ...timing }, source: "agent", test };
  }
  throw new AgentError("NO_HEALTHCHECK", `image ${image.id.slice(0, 19)} has no HEALTHCHECK and no curl, wget, python3 or node to probe ${spec.path}`, {
    hint: "add health.command to the app in agent.yaml, or a HEALTHCHECK to the image; without one Traefik would route to the new release before it is ready",
  });
}

/** Looks inside the image through a created, never-started container (the archive API reads its filesystem). */
async function findProbe(c: EngineClient, owner: Owner, imageId: string, app: string): Promise<{ bin: string; argv: (b: string, u: string) => string[] } | undefined> {
  // Unnamed, so it can never collide with anything; the owner labels let reconcile remove it if the agent dies meanwhile.
  const probeId = await createContainer(c, {
    Image: imageId,
    Entrypoint: ["/deploy-agent-probe-never-runs"],
    Labels: { ...ownerLabels(app, owner), [AGENT_LABELS.role]: PROBE_ROLE },
    HostConfig: { NetworkMode: "none" },
  });
  try {
    const candidates = PROBES.flatMap((p) => p.paths.map((bin) => ({ bin, argv: p.argv })));
    const found = await Promise.all(candidates.map((cand) => pathExists(c, probeId, cand.bin)));
    return candidates.find((_, i) => found[i]);
  } finally {
    await removeContainer(c, probeId);
  }
}

export interface ProbeResult {
  ok: boolean;
  detail: string;
}

/** One GET of the health URL from the agent's side; any 2xx or 3xx passes. */
export function probeHttp(url: string, timeoutMs = 2000): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve({ ok: code >= 200 && code < 400, detail: `HTTP ${code}` });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on("error", (err) => resolve({ ok: false, detail: err.message }));
  });
}

export interface WaitHealthyOptions {
  /** The agent's own probe URL (http://<new-container-ip>:<port><path>); Docker's status alone when absent. */
  probeUrl?: string | undefined;
  deadlineMs: number;
  successes: number;
  pollMs?: number;
  signal?: AbortSignal;
  label: string;
  /** The reference the container was created from, for the hint that runs it by hand. */
  imageRef?: string | undefined;
  /** Told every `progressEveryMs` while the wait goes on: "Docker health: starting, agent probe: HTTP 503, 6s of 60s". */
  onProgress?: (message: string) => void;
  progressEveryMs?: number;
  /** The clock the deadline runs on; the monotonic one unless a test injects its own. */
  now?: MonotonicClock;
}

/** How often a waiting deploy reports: often enough that nobody thinks it hangs. */
const PROGRESS_EVERY_MS = 3000;

/**
 * Waits until green is `healthy` in Docker and the agent's probe passed `successes` times in a row.
 * Throws GREEN_EXITED if it stops or restarts, GREEN_UNHEALTHY if Docker says unhealthy or the
 * deadline passes, DEPLOY_ABORTED if the signal fires. Messages carry the last log lines.
 */
export async function waitHealthy(c: EngineClient, id: string, opts: WaitHealthyOptions): Promise<void> {
  const now = opts.now ?? monotonicNow;
  const until = deadline(opts.deadlineMs, now);
  let reported = now();
  let streak = 0;
  let lastProbe = "not probed yet";
  // Docker's health_status and die events wake the wait at once; polling stays as the fallback.
  // The shutdown signal wakes it too, through one listener for the whole wait: not AbortSignal.any
  // per sleep, whose signals Node 20 keeps for as long as the shutdown signal lives (agent/abort.ts).
  let wake = new AbortController();
  const wakeNow = () => wake.abort();
  const events = await watchEvents(c, id, wakeNow);
  opts.signal?.addEventListener("abort", wakeNow, { once: true });
  try {
    for (;;) {
      if (opts.signal?.aborted) {
        throw new AgentError("DEPLOY_ABORTED", `deploy aborted while waiting for ${opts.label} to turn healthy: ${abortReason(opts.signal)}`);
      }
      const health = await checkRunning(c, id, opts.label, opts.imageRef);
      if (opts.probeUrl) {
        const r = await probeHttp(opts.probeUrl);
        lastProbe = r.detail;
        streak = r.ok ? streak + 1 : 0;
      } else {
        streak = opts.successes;
      }
      if ((health === "healthy" || health === "none") && streak >= opts.successes) return;
      if (opts.onProgress && now() - reported >= (opts.progressEveryMs ?? PROGRESS_EVERY_MS)) {
        reported = now();
        const probe = opts.probeUrl ? `agent probe: ${lastProbe}` : "no agent probe";
        opts.onProgress(`Docker health: ${health}, ${probe}, ${Math.round(until.elapsedMs() / 1000)}s of ${Math.round(opts.deadlineMs / 1000)}s`);
      }
      if (until.passed()) {
        const logs = await tailLogs(c, id, 20);
        throw new AgentError(
          "GREEN_UNHEALTHY",
          `${opts.label} not healthy after ${Math.round(opts.deadlineMs / 1000)}s (Docker health: ${health}; agent probe ${opts.probeUrl ?? ""}: ${lastProbe})` +
            (logs ? `; last log lines:\n${logs}` : ""),
          { hint: "check the app's health path and port, or raise health.startTimeout" },
        );
      }
      await sleep(opts.pollMs ?? 250, wake.signal);
      if (wake.signal.aborted) wake = new AbortController();
    }
  } finally {
    opts.signal?.removeEventListener("abort", wakeNow);
    events.close();
  }
}

/**
 * Calls `onEvent` on each health_status or die event of the container; never throws. The stream
 * has a deadline for its first answer only: it is meant to stay silent until something happens.
 */
export async function watchEvents(c: EngineClient, id: string, onEvent: () => void): Promise<{ close(): void }> {
  try {
    const { stream, close } = await c.stream(`events of container ${id}`, (abortSignal) =>
      c.docker.getEvents({ filters: { container: [id], event: ["health_status", "die"] }, abortSignal }),
    );
    stream.on("data", onEvent);
    stream.on("error", () => {});
    return { close };
  } catch {
    return { close: () => {} };
  }
}

/**
 * 128 + SIGTERM and 128 + SIGKILL: how a container ends when it is stopped from outside. dockerd
 * stopping (without live-restore) stops every container so, and its API answers until they are
 * down (seen with test/stories/engine-restart.test.ts); a release that crashes by itself exits
 * otherwise, or is marked OOMKilled.
 */
const STOPPED_BY_SIGNAL = new Set([137, 143]);
/**
 * How long a green stopped by a signal waits to see whether the Engine goes away: dockerd's own
 * --shutdown-timeout is 15 s by default, and containers with a longer StopTimeout get theirs.
 */
const ENGINE_STOP_WAIT_MS = 30_000;
const ENGINE_STOP_POLL_MS = 500;

/**
 * When each container was last seen running here (performance.now()), for the last few seconds
 * only, with the client's lost count then: a green that the agent was watching (health wait,
 * drain) and that has just stopped. A container found stopped by reconcile was not watched, and
 * is judged at once.
 */
const seenRunning = new Map<string, { at: number; lost: number }>();
const JUST_SEEN_MS = 5000;

/**
 * Records whether `id` runs now. Returns, when it was seen running within JUST_SEEN_MS before the
 * look that found it so was asked (`askedAt`: an Engine that is stopping may take seconds to
 * answer, which says nothing about whether the agent was watching), the client's lost count then.
 */
function noteRunning(c: EngineClient, id: string, running: boolean, askedAt: number): number | undefined {
  const last = seenRunning.get(id);
  const lostThen = last !== undefined && askedAt - last.at < JUST_SEEN_MS ? last.lost : undefined;
  const now = monotonicNow();
  for (const [k, seen] of seenRunning) if (now - seen.at >= JUST_SEEN_MS) seenRunning.delete(k);
  if (running) seenRunning.set(id, { at: now, lost: c.lostCount });
  else seenRunning.delete(id);
  return lostThen;
}

/**
 * Containers judged stopped by dockerd stopping: every later look says so again (until one sees the
 * container run), so that a deploy that goes on after it (finishForward) does not judge the same
 * exit as the release's own once the Engine is back. Bounded: the oldest goes first.
 */
const stoppedByEngine = new Set<string>();
const STOPPED_BY_ENGINE_MAX = 64;

function engineStoppedIt(label: string, exitCode: number): AgentError {
  return new AgentError(
    "ENGINE_UNAVAILABLE",
    `${label} was stopped (exit code ${exitCode}) by dockerd stopping, which stops every container (no live-restore); the release is not judged by that`,
    { hint: "check `systemctl status docker` and the journal of docker.service; the agent deploys the release again once the Engine is back" },
  );
}

/** A look other than checkRunning's (the start step's inspect) saw `id` running: it counts as watched from now. */
export function noteSeenRunning(c: EngineClient, id: string): void {
  seenRunning.set(id, { at: monotonicNow(), lost: c.lostCount });
}

/**
 * True when the Engine goes away within ENGINE_STOP_WAIT_MS (green was stopped by dockerd stopping):
 * a ping fails, or one of the client's event streams ends by itself (the daemon's Engine watch has
 * one open all the time), which also catches a dockerd that is back before a ping could fail.
 */
async function engineGoesAway(c: EngineClient, lostBefore: number): Promise<boolean> {
  const until = monotonicNow() + ENGINE_STOP_WAIT_MS;
  while (monotonicNow() < until) {
    if (c.lostCount !== lostBefore) return true;
    try {
      await ping(c);
    } catch {
      return true;
    }
    await sleep(ENGINE_STOP_POLL_MS);
  }
  return false;
}

/**
 * Throws if the container has stopped, restarted or turned unhealthy; otherwise returns its Docker
 * health status ("none" without a health check).
 */
export async function checkRunning(c: EngineClient, id: string, label: string, imageRef?: string): Promise<string> {
  const askedAt = monotonicNow();
  const info = await inspectContainer(c, id);
  if (!info) throw new AgentError("GREEN_EXITED", `${label} is gone: the container ${id.slice(0, 12)} was removed from the Engine`);
  // Counted from when green was last seen running: dockerd drops its streams as it stops, maybe before this look.
  const lostThen = noteRunning(c, id, info.running, askedAt);
  if (info.running) stoppedByEngine.delete(id);
  else if (stoppedByEngine.has(id)) throw engineStoppedIt(label, info.exitCode);
  if (!info.running && lostThen !== undefined && !info.oomKilled && STOPPED_BY_SIGNAL.has(info.exitCode) && (await engineGoesAway(c, lostThen))) {
    stoppedByEngine.add(id);
    if (stoppedByEngine.size > STOPPED_BY_ENGINE_MAX) stoppedByEngine.delete(stoppedByEngine.values().next().value as string);
    throw engineStoppedIt(label, info.exitCode);
  }
  if (!info.running || info.restarting || info.restartCount > 0) {
    const logs = await tailLogs(c, id, 20);
    throw new AgentError(
      "GREEN_EXITED",
      `${label} exited (status ${info.state}, exit code ${info.exitCode}${info.oomKilled ? ", killed for lack of memory" : ""})` +
        (logs ? `; last log lines:\n${logs}` : ""),
      { hint: `run the image by hand to see why it stops: docker run --rm ${imageRef ?? info.image}` },
    );
  }
  if (info.health === "unhealthy") {
    const last = info.lastCheck;
    const output = last ? ` (last check exit ${last.exitCode}: ${last.output})` : "";
    const logs = await tailLogs(c, id, 20);
    throw new AgentError("GREEN_UNHEALTHY", `${label} turned unhealthy in Docker${output}` + (logs ? `; last log lines:\n${logs}` : ""), {
      hint: "check the app's health path and port, and its log above",
    });
  }
  return info.health;
}
