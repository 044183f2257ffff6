// Green's health: the Docker health check it is created with (Traefik routes only `healthy`
// containers, docs/design.md#health-filtering) and the wait until both Docker and the agent's own probe say healthy.
import http from "node:http";
import type Docker from "dockerode";
import { AgentError } from "../errors.js";
import { AGENT_LABELS } from "../labels.js";
import { pathExists, removeContainer, tailLogs } from "./containers.js";

const NS_PER_MS = 1_000_000;

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
 * The health check green is created with (docs/design.md#choosing-the-health-check):
 * the configured command, else the image's HEALTHCHECK, else one built from a probe program
 * found in the image. Throws NO_HEALTHCHECK when none can be had, before anything is started.
 */
export async function chooseHealthcheck(
  docker: Docker,
  image: Docker.ImageInspectInfo,
  app: string,
  spec: HealthSpec,
): Promise<{ healthcheck: Docker.HealthConfig; source: HealthSource; test: string[] }> {
  const timing = {
    Interval: spec.intervalMs * NS_PER_MS,
    Timeout: Math.max(spec.intervalMs, 3000) * NS_PER_MS,
    // Failures while still `starting` inside the start period do not count (docs/design.md#health-status).
    StartPeriod: spec.startTimeoutMs * NS_PER_MS,
    Retries: 3,
  };
  if (spec.command !== undefined) {
    const test = ["CMD-SHELL", spec.command];
    return { healthcheck: { Test: test, ...timing }, source: "config", test };
  }
  const own = image.Config?.Healthcheck?.Test;
  if (own && own.length > 0 && own[0] !== "NONE") {
    // An empty Test inherits the image's command while our timing applies (the Engine merges them).
    return { healthcheck: { Test: [], ...timing }, source: "image", test: own };
  }
  const url = `http://127.0.0.1:${spec.port}${spec.path}`;
  const found = await findProbe(docker, image.Id, app);
  if (found) {
    const test = ["CMD", ...found.argv(found.bin, url)];
    return { healthcheck: { Test: test, ...timing }, source: "agent", test };
  }
  throw new AgentError("NO_HEALTHCHECK", `image ${image.Id.slice(0, 19)} has no HEALTHCHECK and no curl, wget, python3 or node to probe ${spec.path}`, {
    hint: "add health.command to the app in agent.yaml, or a HEALTHCHECK to the image; without one Traefik would route to green before it is ready",
  });
}

/** Looks inside the image through a created, never-started container (the archive API reads its filesystem). */
async function findProbe(docker: Docker, imageId: string, app: string): Promise<{ bin: string; argv: (b: string, u: string) => string[] } | undefined> {
  const probe = await docker.createContainer({
    Image: imageId,
    Entrypoint: ["/deploy-agent-probe-never-runs"],
    Labels: { [AGENT_LABELS.app]: app, [AGENT_LABELS.role]: "probe" },
    HostConfig: { NetworkMode: "none" },
  });
  try {
    const candidates = PROBES.flatMap((p) => p.paths.map((bin) => ({ bin, argv: p.argv })));
    const found = await Promise.all(candidates.map((c) => pathExists(docker, probe.id, c.bin)));
    return candidates.find((_, i) => found[i]);
  } finally {
    await removeContainer(docker, probe.id);
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
  /** The agent's own probe URL (http://<green-ip>:<port><path>); Docker's status alone when absent. */
  probeUrl?: string | undefined;
  deadlineMs: number;
  successes: number;
  pollMs?: number;
  signal?: AbortSignal;
  label: string;
}

/**
 * Waits until green is `healthy` in Docker and the agent's probe passed `successes` times in a row.
 * Throws GREEN_EXITED if it stops or restarts, GREEN_UNHEALTHY if Docker says unhealthy or the
 * deadline passes, DEPLOY_ABORTED if the signal fires. Messages carry the last log lines.
 */
export async function waitHealthy(docker: Docker, id: string, opts: WaitHealthyOptions): Promise<void> {
  const started = Date.now();
  let streak = 0;
  let lastProbe = "not probed yet";
  // Docker's health_status and die events wake the wait at once; polling stays as the fallback.
  let wake = new AbortController();
  const events = await watchEvents(docker, id, () => wake.abort());
  try {
    for (;;) {
      if (opts.signal?.aborted) throw new AgentError("DEPLOY_ABORTED", `${opts.label}: deploy aborted while waiting for health`);
      const health = await checkRunning(docker, id, opts.label);
      if (opts.probeUrl) {
        const r = await probeHttp(opts.probeUrl);
        lastProbe = r.detail;
        streak = r.ok ? streak + 1 : 0;
      } else {
        streak = opts.successes;
      }
      if ((health === "healthy" || health === "none") && streak >= opts.successes) return;
      if (Date.now() - started >= opts.deadlineMs) {
        const logs = await tailLogs(docker, id, 20);
        throw new AgentError(
          "GREEN_UNHEALTHY",
          `${opts.label} not healthy after ${Math.round(opts.deadlineMs / 1000)}s (Docker health: ${health}; agent probe ${opts.probeUrl ?? ""}: ${lastProbe})` +
            (logs ? `; last log lines:\n${logs}` : ""),
          { hint: "check the app's health path and port, or raise health.startTimeout" },
        );
      }
      await sleep(opts.pollMs ?? 250, opts.signal ? AbortSignal.any([opts.signal, wake.signal]) : wake.signal);
      if (wake.signal.aborted) wake = new AbortController();
    }
  } finally {
    events.close();
  }
}

/** Calls `onEvent` on each health_status or die event of the container; never throws. */
async function watchEvents(docker: Docker, id: string, onEvent: () => void): Promise<{ close(): void }> {
  try {
    const stream = (await docker.getEvents({ filters: { container: [id], event: ["health_status", "die"] } })) as NodeJS.ReadableStream & {
      destroy?: () => void;
    };
    stream.on("data", onEvent);
    stream.on("error", () => {});
    return { close: () => stream.destroy?.() };
  } catch {
    return { close: () => {} };
  }
}

/**
 * Throws if the container has stopped, restarted or turned unhealthy; otherwise returns its Docker
 * health status ("none" without a health check).
 */
export async function checkRunning(docker: Docker, id: string, label: string): Promise<string> {
  const info = await docker.getContainer(id).inspect();
  const st = info.State;
  if (!st.Running || st.Restarting || info.RestartCount > 0) {
    const logs = await tailLogs(docker, id, 20);
    throw new AgentError(
      "GREEN_EXITED",
      `${label} exited (status ${st.Status}, exit code ${st.ExitCode}${st.OOMKilled ? ", killed for lack of memory" : ""})` +
        (logs ? `; last log lines:\n${logs}` : ""),
      { hint: "run the image by hand to see why it stops: docker run --rm <image>" },
    );
  }
  const health = st.Health?.Status ?? "none";
  if (health === "unhealthy") {
    const last = st.Health?.Log?.at(-1);
    const output = last ? ` (last check exit ${last.ExitCode}: ${last.Output.trim().slice(0, 300)})` : "";
    throw new AgentError("GREEN_UNHEALTHY", `${label} turned unhealthy in Docker${output}`);
  }
  return health;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
