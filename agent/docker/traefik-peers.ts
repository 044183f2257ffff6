// Which running containers on a network look like Traefik: only for a warning at start and in
// `status` that a route may not be served. Read-only, so it needs no ownership check.
import { statusOf, type EngineClient } from "./client.js";

/** What one network shows: whether it exists yet, and the names of the containers on it that look like Traefik. */
export interface TraefikPeers {
  network: string;
  exists: boolean;
  traefik: string[];
}

/** What the rule looks at of one container. */
export interface PeerFacts {
  /** The image as the container was created from it (a name, or an id when its tag moved). */
  image: string;
  /** The image's tags now, e.g. `traefik:v3`. */
  repoTags: string[];
  /** Entrypoint and command, as the Engine's list joins them: `/entrypoint.sh traefik --providers.docker`. */
  command: string;
}

/**
 * The heuristic: "traefik" (any case) anywhere in the image name or one of its tags (`traefik:v3`,
 * `docker.io/library/traefik`, `ghcr.io/me/my-traefik`), or a word of the command whose last path
 * part is `traefik` (the official image runs `/entrypoint.sh traefik`; a custom one may run
 * `/usr/local/bin/traefik`). A false positive only hides a warning and a false negative only shows
 * one: nothing is refused on its account.
 */
export function looksLikeTraefik(c: PeerFacts): boolean {
  const named = [c.image, ...c.repoTags].some((n) => n.toLowerCase().includes("traefik"));
  return named || c.command.split(/\s+/).some((word) => (word.split("/").pop() ?? "").toLowerCase() === "traefik");
}

/** At most this many images are inspected for their tags, so a crowded network stays a bounded number of calls. */
const MAX_IMAGE_INSPECTS = 20;

export async function traefikPeers(c: EngineClient, network: string, timeoutMs?: number): Promise<TraefikPeers> {
  const nets = await c.call(`list of networks named ${network}`, (abortSignal) => c.docker.listNetworks({ filters: { name: [network] }, abortSignal }), timeoutMs);
  // The name filter matches a part of the name: only an exact name counts.
  if (!nets.some((n) => n.Name === network)) return { network, exists: false, traefik: [] };
  const list = await c.call(
    `list of running containers on network ${network}`,
    (abortSignal) => c.docker.listContainers({ filters: { network: [network], status: ["running"] }, abortSignal }),
    timeoutMs,
  );
  const seen = list.map((i) => ({ name: (i.Names[0] ?? i.Id).replace(/^\//, ""), imageId: i.ImageID, facts: { image: i.Image, repoTags: [] as string[], command: i.Command ?? "" } }));
  // Tags are only needed where name and command do not tell; one inspect per image, all at once.
  const unknown = [...new Set(seen.filter((f) => !looksLikeTraefik(f.facts)).map((f) => f.imageId))].slice(0, MAX_IMAGE_INSPECTS);
  const tags = new Map(await Promise.all(unknown.map(async (id) => [id, await repoTags(c, id, timeoutMs)] as const)));
  const traefik = seen.filter((f) => looksLikeTraefik({ ...f.facts, repoTags: tags.get(f.imageId) ?? [] })).map((f) => f.name);
  return { network, exists: true, traefik: traefik.sort() };
}

async function repoTags(c: EngineClient, imageId: string, timeoutMs?: number): Promise<string[]> {
  try {
    // dockerode's image inspect takes no abortSignal; the client's deadline still bounds it.
    const info = await c.call(`inspect of image ${imageId}`, () => c.docker.getImage(imageId).inspect(), timeoutMs);
    return info.RepoTags ?? [];
  } catch (err) {
    // Removed since the container was made from it: no tags to look at.
    if (statusOf(err) === 404) return [];
    throw err;
  }
}
