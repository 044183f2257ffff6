// A fixture image that carries LABELs of its own: the `good` fixture with LABEL lines on top,
// pushed to the test registry like any other version. For tests of what an image may not steer.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Dockerode from "dockerode";
import { FIXTURE_REPO, TEST_REGISTRY, fixtureImage, pushTag, testRunId, type PublishedImage } from "./images.js";

export interface LabelledOptions {
  /** Repository under the test registry. */
  repo: string;
  tag: string;
  version: string;
  labels: Record<string, string>;
  docker?: Dockerode;
}

/** Builds `good` (version `version`) plus `labels` as LABEL lines, and pushes it as `<repo>:<tag>`. */
export async function publishLabelled(opts: LabelledOptions): Promise<PublishedImage> {
  const docker = opts.docker ?? new Dockerode();
  const base = await fixtureImage(docker, "good", opts.version);
  const local = `${FIXTURE_REPO}/labelled:${testRunId()}-${opts.tag}`;
  const context = await mkdtemp(path.join(tmpdir(), "deploy-agent-labelled-"));
  try {
    const lines = Object.entries(opts.labels).map(([k, v]) => `LABEL ${JSON.stringify(k)}=${JSON.stringify(v)}`);
    await writeFile(path.join(context, "Dockerfile"), `FROM ${base}\n${lines.join("\n")}\n`);
    process.env.TESTCONTAINERS_RYUK_DISABLED = "true";
    const { GenericContainer } = await import("testcontainers");
    await GenericContainer.fromDockerfile(context).build(local, { deleteOnExit: false });
  } finally {
    await rm(context, { recursive: true, force: true });
  }
  const image = `${TEST_REGISTRY}/${opts.repo}`;
  await docker.getImage(local).tag({ repo: image, tag: opts.tag });
  const digest = await pushTag(docker, image, opts.tag, TEST_REGISTRY, {});
  return { image, tag: opts.tag, digest };
}
