// Image calls with the Engine deadline. Internal to docker/: owned-engine.ts allows removing only
// the agent's own keep-tags.
import type Docker from "dockerode";
import { statusOf, type EngineClient } from "./client.js";
import type { ImageView } from "./types.js";

/** The image, or undefined when the Engine does not have it. */
export async function inspectImage(c: EngineClient, ref: string): Promise<ImageView | undefined> {
  let info: Docker.ImageInspectInfo;
  try {
    // dockerode's image inspect takes no abortSignal; the client's deadline still bounds it.
    info = await c.call(`inspect of image ${ref}`, () => c.docker.getImage(ref).inspect());
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
  const test = info.Config?.Healthcheck?.Test;
  return {
    id: info.Id,
    repoDigests: info.RepoDigests ?? [],
    repoTags: info.RepoTags ?? [],
    labels: info.Config?.Labels ?? {},
    ...(test && test.length > 0 ? { healthcheck: test } : {}),
  };
}

/** Tags an image so that `docker image prune` keeps it (an untagged, digest-only image is "dangling"). */
export async function tagImage(c: EngineClient, imageId: string, repo: string, tag: string): Promise<void> {
  await c.call(`tag of image ${imageId} as ${repo}:${tag}`, (abortSignal) => c.docker.getImage(imageId).tag({ repo, tag, abortSignal }));
}

/**
 * Removes one image reference. By a tag that is not the image's last reference, only the tag goes;
 * by its last one, the image goes unless a container uses it. Absent or in use is not an error.
 */
export async function removeImageRef(c: EngineClient, ref: string): Promise<boolean> {
  try {
    await c.call(`removal of image ${ref}`, (abortSignal) => c.docker.getImage(ref).remove({ force: false, noprune: false, abortSignal }));
    return true;
  } catch (err) {
    const s = statusOf(err);
    if (s === 404 || s === 409) return false;
    throw err;
  }
}
