// Container and network calls, each with the Engine deadline and idempotent where the Engine allows:
// a 304 on stop and a 404 on remove count as done. Internal to docker/: owned-engine.ts decides
// which containers these may touch.
import type Docker from "dockerode";
import { cleanText } from "../text.js";
import { statusOf, type EngineClient } from "./client.js";
import type { ContainerDetail, ContainerSpec, ContainerSummary, Health } from "./types.js";

/** Bound on one health check's output quoted in a message. */
const CHECK_OUTPUT_MAX_BYTES = 512;
/** Bound on a log tail quoted in a message; the end is kept, where the reason for a crash is. */
const LOG_TAIL_MAX_BYTES = 4096;

export async function inspectContainer(c: EngineClient, idOrName: string): Promise<ContainerDetail | undefined> {
  try {
    const info = await c.call(`inspect of container ${idOrName}`, (abortSignal) => c.docker.getContainer(idOrName).inspect({ abortSignal }));
    return detailOf(info);
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

/** Containers matching the Engine's list filters, running or not. */
export async function listContainers(c: EngineClient, filters: Record<string, string[]>, timeoutMs?: number): Promise<ContainerSummary[]> {
  const list = await c.call("list of containers", (abortSignal) => c.docker.listContainers({ all: true, filters, abortSignal }), timeoutMs);
  return list.map((i) => ({
    id: i.Id,
    name: (i.Names[0] ?? i.Id).replace(/^\//, ""),
    labels: i.Labels ?? {},
    state: i.State,
    health: healthFromStatus(i.Status),
  }));
}

/** Green's spec, or a probe's (unnamed, never started). */
export type CreateBody = ContainerSpec | { Image: string; Labels: Record<string, string>; Entrypoint: string[]; HostConfig: { NetworkMode: string } };

export async function createContainer(c: EngineClient, spec: CreateBody): Promise<string> {
  const created = await c.call(`create of container ${"name" in spec ? spec.name : `from ${spec.Image}`}`, (abortSignal) =>
    c.docker.createContainer({ ...(spec as Docker.ContainerCreateOptions), abortSignal }),
  );
  return created.id;
}

export async function startContainer(c: EngineClient, id: string): Promise<void> {
  try {
    await c.call(`start of container ${id}`, (abortSignal) => c.docker.getContainer(id).start({ abortSignal }));
  } catch (err) {
    if (statusOf(err) !== 304) throw err;
  }
}

/** SIGTERM, then SIGKILL after `timeoutMs`; already stopped or gone counts as stopped. */
export async function stopContainer(c: EngineClient, id: string, timeoutMs: number): Promise<void> {
  const t = Math.ceil(timeoutMs / 1000);
  try {
    // The Engine answers only once the container stopped: its deadline covers the stop timeout too.
    await c.call(`stop of container ${id}`, (abortSignal) => c.docker.getContainer(id).stop({ t, abortSignal }), c.timeoutMs + t * 1000);
  } catch (err) {
    const s = statusOf(err);
    if (s === 304 || s === 404) return;
    throw err;
  }
}

export async function removeContainer(c: EngineClient, id: string): Promise<void> {
  try {
    await c.call(`removal of container ${id}`, (abortSignal) => c.docker.getContainer(id).remove({ force: true, v: false, abortSignal }));
  } catch (err) {
    const s = statusOf(err);
    if (s === 404) return;
    // "removal of container … is already in progress"
    if (s === 409 && /already in progress/.test(String((err as Error).message))) return;
    throw err;
  }
}

export async function updateRestartPolicy(c: EngineClient, id: string, policy: string): Promise<void> {
  await c.call(`update of container ${id}`, (abortSignal) =>
    c.docker.getContainer(id).update({ RestartPolicy: { Name: policy, MaximumRetryCount: 0 }, abortSignal }),
  );
}

export async function connectNetwork(c: EngineClient, network: string, id: string): Promise<void> {
  await c.call(`connect of container ${id} to network ${network}`, (abortSignal) => c.docker.getNetwork(network).connect({ Container: id, abortSignal } as Docker.NetworkConnectOptions));
}

/**
 * Network creation, one at a time per Engine client: two apps' first deploys onto a network that
 * does not exist yet would both create it, and Docker 20.10 then holds two networks of that name
 * ("network … is ambiguous"), CheckDuplicate notwithstanding. Networks are never removed.
 */
const networkQueues = new WeakMap<EngineClient, Promise<unknown>>();

/** Creates a user-defined bridge network if none of that name exists (so Traefik and the app can share it). */
export function ensureNetwork(c: EngineClient, name: string): Promise<void> {
  const next = (networkQueues.get(c) ?? Promise.resolve()).catch(() => undefined).then(() => createNetworkIfMissing(c, name));
  networkQueues.set(c, next);
  return next;
}

async function createNetworkIfMissing(c: EngineClient, name: string): Promise<void> {
  const nets = await c.call(`list of networks named ${name}`, (abortSignal) => c.docker.listNetworks({ filters: { name: [name] }, abortSignal }));
  if (nets.some((n) => n.Name === name)) return;
  try {
    await c.call(`create of network ${name}`, (abortSignal) => c.docker.createNetwork({ Name: name, Driver: "bridge", CheckDuplicate: true, abortSignal }));
  } catch (err) {
    if (statusOf(err) !== 409) throw err;
  }
}

/** True when `path` exists in the container's filesystem (works on created, never-started containers). */
export async function pathExists(c: EngineClient, containerId: string, path: string): Promise<boolean> {
  try {
    await c.call(`look for ${path} in container ${containerId}`, async (abortSignal) => {
      const res = (await c.docker.getContainer(containerId).infoArchive({ path, abortSignal })) as unknown as NodeJS.ReadableStream & { resume?: () => void };
      res.resume?.();
    });
    return true;
  } catch (err) {
    if (statusOf(err) === 404) return false;
    throw err;
  }
}

/** The last `lines` lines of a container's stdout and stderr, demultiplexed, cleaned, the end kept; "" when unavailable. */
export async function tailLogs(c: EngineClient, id: string, lines = 20): Promise<string> {
  try {
    const buf = (await c.call(`logs of container ${id}`, (abortSignal) =>
      c.docker.getContainer(id).logs({ stdout: true, stderr: true, tail: lines, follow: false, abortSignal }),
    )) as unknown as Buffer;
    return cleanText(demux(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf))).trimEnd(), LOG_TAIL_MAX_BYTES, "tail");
  } catch {
    return "";
  }
}

/** Docker's stream framing for non-TTY logs: [stream, 0, 0, 0, size(uint32 BE)] then payload. */
function demux(buf: Buffer): string {
  if (buf.length < 8 || buf[1] !== 0 || buf[2] !== 0 || buf[3] !== 0 || (buf[0] ?? 9) > 2) return buf.toString("utf8");
  const parts: Buffer[] = [];
  let off = 0;
  while (off + 8 <= buf.length) {
    const size = buf.readUInt32BE(off + 4);
    parts.push(buf.subarray(off + 8, off + 8 + size));
    off += 8 + size;
  }
  return Buffer.concat(parts).toString("utf8");
}

/** The list's Status reads "Up 3 seconds (healthy)"; inspect's State.Health says the same. */
function healthFromStatus(status: string): Health {
  const m = /\((healthy|unhealthy|health: starting)\)/.exec(status)?.[1];
  return m === "health: starting" ? "starting" : m === "healthy" || m === "unhealthy" ? m : "none";
}

function detailOf(info: Docker.ContainerInspectInfo): ContainerDetail {
  const st = info.State;
  const ips: Record<string, string> = {};
  for (const [net, n] of Object.entries(info.NetworkSettings.Networks ?? {})) if (n.IPAddress) ips[net] = n.IPAddress;
  const last = st.Health?.Log?.at(-1);
  const health = st.Health?.Status;
  return {
    id: info.Id,
    name: info.Name.replace(/^\//, ""),
    labels: info.Config.Labels ?? {},
    state: st.Status,
    health: health === "healthy" || health === "unhealthy" || health === "starting" ? health : "none",
    running: st.Running,
    restarting: st.Restarting,
    restartCount: info.RestartCount,
    failingStreak: st.Health?.FailingStreak ?? 0,
    exitCode: st.ExitCode,
    oomKilled: st.OOMKilled,
    image: info.Image,
    startedAt: st.StartedAt,
    ips,
    ...(last ? { lastCheck: { exitCode: last.ExitCode, output: cleanText(last.Output.trim(), CHECK_OUTPUT_MAX_BYTES, "tail") } } : {}),
  };
}
