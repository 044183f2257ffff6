// A stand-in for Traefik on a test network: the `good` fixture committed as another image whose
// name contains "traefik" (so the app's own image does not carry that tag), run on the network.
// Only the agent's "looks like Traefik" heuristic sees it; it routes nothing.
import type Dockerode from "dockerode";
import { TEST_RUN_LABEL, fixtureImage } from "./images.js";

export interface TraefikLookalike {
  /** `<repo>:v3`, a name containing "traefik". */
  ref: string;
  /** The committed image's id, to create a container that shows no image name. */
  id: string;
}

/** Commits the `good` fixture as `<repo>:v3`; `repo` must contain "traefik" and the run id (so cleanup removes it). */
export async function traefikLookalike(docker: Dockerode, repo: string, runId: string): Promise<TraefikLookalike> {
  const plain = await fixtureImage(docker, "good", `${repo}-base`);
  const base = await docker.createContainer({ Image: plain, Labels: { [TEST_RUN_LABEL]: runId } });
  const committed = (await base.commit({ repo, tag: "v3" })) as { Id: string };
  await base.remove();
  return { ref: `${repo}:v3`, id: committed.Id };
}

/** Runs (or only creates, with `start: false`) a container of `image` on `network`, labelled with the run. */
export async function runOnNetwork(docker: Dockerode, opts: { name: string; image: string; network: string; runId: string; start?: boolean }): Promise<void> {
  const c = await docker.createContainer({ name: opts.name, Image: opts.image, Labels: { [TEST_RUN_LABEL]: opts.runId }, HostConfig: { Init: true, NetworkMode: opts.network } });
  if (opts.start !== false) await c.start();
}

/** Creates a bridge network labelled with the run; its name must contain the run id (so cleanup removes it). */
export async function testNetwork(docker: Dockerode, name: string, runId: string): Promise<string> {
  await docker.createNetwork({ Name: name, Driver: "bridge", Labels: { [TEST_RUN_LABEL]: runId } });
  return name;
}
