// A single-node swarm for a test file: a private dockerd (private-dockerd.ts) made a manager, so
// swarm mode never reaches the Engine the other tests share, the fixture versions its services
// run by digest, and web's service of an app as the agent builds it (agent/deploy/service-plan.ts).
import type Dockerode from "dockerode";
import { parseConfig } from "../../agent/config/load.js";
import { webServiceSpec } from "../../agent/deploy/service-plan.js";
import { connectEngine, type OwnedSwarm } from "../../agent/docker/engine.js";
import { commandHealthcheck } from "../../agent/docker/healthcheck.js";
import type { Owner } from "../../agent/docker/types.js";
import type { ServiceSpec } from "../../agent/docker/service-spec.js";
import { publishVersion, TEST_RUN_LABEL, testRunId, type PublishedImage } from "./images.js";
import { startPrivateDockerd, type PrivateDockerd } from "./private-dockerd.js";

export type SwarmFixtures = Record<"v1" | "v2" | "bad", PublishedImage>;

/** Two good versions and a never-healthy one, pushed to the test registry under `repo`. */
export async function publishSwarmFixtures(repo: string): Promise<SwarmFixtures> {
  const [v1, v2, bad] = await Promise.all([
    publishVersion({ repo, tag: "v1", behaviour: "good", version: "v1" }),
    publishVersion({ repo, tag: "v2", behaviour: "good", version: "v2" }),
    publishVersion({ repo, tag: "bad", behaviour: "never-healthy", version: "bad" }),
  ]);
  return { v1, v2, bad };
}

export interface PrivateSwarm {
  dockerd: PrivateDockerd;
  docker: Dockerode;
  /** The agent's Swarm half of the Engine layer on it, for `owner`. */
  swarm: OwnedSwarm;
  /** Leaves the swarm and ends the dockerd: its services, tasks and overlay networks go with it. */
  close(): Promise<void>;
}

/** A private dockerd named after `prefix` (see startPrivateDockerd), made the manager of a swarm of its own. */
export async function startPrivateSwarm(prefix: string, owner: Owner): Promise<PrivateSwarm> {
  const dockerd = await startPrivateDockerd(prefix);
  const docker = dockerd.docker;
  try {
    await docker.swarmInit({ ListenAddr: "127.0.0.1:2377", AdvertiseAddr: "127.0.0.1" });
  } catch (err) {
    await dockerd.close();
    throw err;
  }
  const swarm = (await connectEngine(dockerd.socketPath)).swarmOwnedBy(owner);
  return {
    dockerd,
    docker,
    swarm,
    async close() {
      await docker.swarmLeave({ force: true }).catch(() => undefined);
      await dockerd.close();
    },
  };
}

/**
 * Web's service of app `name` at `image`, as the deploy will build it: two replicas, a wget health
 * check every 500 ms with 2 s to start, so the update's monitor (startTimeout + 3 intervals) is
 * 3.5 s, and the run's label on its tasks. `more` adds lines of the app's YAML (networks, route);
 * `port` is the app's port (the router's server port), whatever the fixture listens on (8000).
 */
export function swarmWebSpec(name: string, image: PublishedImage, release: { version: string; generation: number }, more: string[] = [], port = 8000): ServiceSpec {
  const yaml = [
    "apps:",
    `  ${name}:`,
    `    image: ${image.image}`,
    "    backend: swarm",
    "    replicas: 2",
    `    port: ${port}`,
    "    stopTimeout: 2s",
    "    health: { path: /health, command: 'wget -q -O /dev/null http://127.0.0.1:8000/health', startTimeout: 2s, interval: 500ms }",
    ...more.map((line) => `    ${line}`),
    `    labels: { ${TEST_RUN_LABEL}: "${testRunId()}" }`,
  ].join("\n");
  const cfg = parseConfig(`${yaml}\n`).apps[name]!;
  const health = commandHealthcheck(cfg.health.command!, cfg.health.interval, cfg.health.startTimeout);
  const { version, generation } = release;
  return webServiceSpec(name, cfg, { deployId: String(generation), version, digest: image.digest, generation }, health);
}
