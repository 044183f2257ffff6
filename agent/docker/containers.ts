// Container and image operations the deploy sequence needs, each idempotent where the Engine allows:
// a 304 on stop and a 404 on remove count as done (docs/design.md#stop-and-remove).
import type Docker from "dockerode";
import { AGENT_LABELS } from "../labels.js";
import { statusOf } from "./engine.js";

export async function inspectContainer(docker: Docker, idOrName: string): Promise<Docker.ContainerInspectInfo | undefined> {
  try {
    return await docker.getContainer(idOrName).inspect();
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}

/** Every container of `app` the agent manages, running or not. */
export async function listAppContainers(docker: Docker, app: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${AGENT_LABELS.app}=${app}`] } });
}

/** SIGTERM, then SIGKILL after `timeoutMs`; already stopped or gone counts as stopped. */
export async function stopContainer(docker: Docker, id: string, timeoutMs: number): Promise<void> {
  try {
    await docker.getContainer(id).stop({ t: Math.ceil(timeoutMs / 1000) });
  } catch (err) {
    const s = statusOf(err);
    if (s === 304 || s === 404) return;
    throw err;
  }
}

export async function removeContainer(docker: Docker, id: string): Promise<void> {
  try {
    await docker.getContainer(id).remove({ force: true, v: false });
  } catch (err) {
    const s = statusOf(err);
    if (s === 404) return;
    // "removal of container … is already in progress"
    if (s === 409 && /already in progress/.test(String((err as Error).message))) return;
    throw err;
  }
}

/**
 * Network creation, one at a time per Engine client: two apps' first deploys onto a network that
 * does not exist yet would both create it, and Docker 20.10 then holds two networks of that name
 * ("network … is ambiguous"), CheckDuplicate notwithstanding.
 */
const networkQueues = new WeakMap<Docker, Promise<unknown>>();

/** Creates a user-defined bridge network if none of that name exists (so Traefik and the app can share it). */
export function ensureNetwork(docker: Docker, name: string): Promise<void> {
  const next = (networkQueues.get(docker) ?? Promise.resolve()).catch(() => undefined).then(() => createNetworkIfMissing(docker, name));
  networkQueues.set(docker, next);
  return next;
}

async function createNetworkIfMissing(docker: Docker, name: string): Promise<void> {
  const nets = await docker.listNetworks({ filters: { name: [name] } });
  if (nets.some((n) => n.Name === name)) return;
  try {
    await docker.createNetwork({ Name: name, Driver: "bridge", CheckDuplicate: true });
  } catch (err) {
    if (statusOf(err) !== 409) throw err;
  }
}

/** True when `path` exists in the container's filesystem (works on created, never-started containers). */
export async function pathExists(docker: Docker, containerId: string, path: string): Promise<boolean> {
  try {
    const res = (await docker.getContainer(containerId).infoArchive({ path })) as unknown as NodeJS.ReadableStream & { resume?: () => void };
    res.resume?.();
    return true;
  } catch (err) {
    if (statusOf(err) === 404) return false;
    throw err;
  }
}

/** The last `lines` lines of a container's stdout and stderr, demultiplexed. */
export async function tailLogs(docker: Docker, id: string, lines = 20): Promise<string> {
  try {
    const buf = (await docker.getContainer(id).logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer;
    return demux(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf))).trimEnd();
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

/** Tags an image so that `docker image prune` keeps it (an untagged, digest-only image is "dangling": docs/design.md#dangling-images). */
export async function tagImage(docker: Docker, imageId: string, repo: string, tag: string): Promise<void> {
  await docker.getImage(imageId).tag({ repo, tag });
}

/** Removes one image reference (a tag) or an image; absent or still in use is not an error. */
export async function removeImage(docker: Docker, ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).remove({ force: false, noprune: false });
    return true;
  } catch (err) {
    const s = statusOf(err);
    if (s === 404 || s === 409) return false;
    throw err;
  }
}

/** The IP of a container on `network`, or on its first network when none is named. */
export function containerIp(info: Docker.ContainerInspectInfo, network?: string): string | undefined {
  const nets = info.NetworkSettings.Networks ?? {};
  if (network) {
    const ip = nets[network]?.IPAddress;
    return ip ? ip : undefined;
  }
  for (const n of Object.values(nets)) if (n.IPAddress) return n.IPAddress;
  return undefined;
}
