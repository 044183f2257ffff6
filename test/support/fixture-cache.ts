// vitest globalSetup of the Engine's test files: one fixture-image cache for the whole run
// (images.ts, FIXTURE_CACHE_ENV), so the same Dockerfile and build arguments are built once per
// run rather than once per file. Set here, in vitest's main process, before the test files' own
// processes start (they inherit its environment); its images go when the run ends.
import { randomBytes } from "node:crypto";
import Dockerode from "dockerode";
import { FIXTURE_CACHE_ENV, FIXTURE_REPO, removeImageRef } from "./images.js";

export function setup(): () => Promise<void> {
  // A cache of its own for each run: two runs on one Engine never remove each other's images.
  const scope = `cache-${randomBytes(4).toString("hex")}`;
  process.env[FIXTURE_CACHE_ENV] = scope;
  return async () => {
    const docker = new Dockerode();
    const images = await docker.listImages({ all: false });
    const refs = images.flatMap((i) => i.RepoTags ?? []).filter((ref) => ref.startsWith(`${FIXTURE_REPO}/`) && ref.includes(`:${scope}-`));
    for (const ref of refs) await removeImageRef(docker, ref);
  };
}
