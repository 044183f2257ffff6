// The look for Traefik on a route's network against the real Engine: a running container whose
// image is named or tagged like Traefik is found, an app's container is not, a stopped Traefik does
// not count, and a network that does not exist yet is told apart from an empty one.
import { randomBytes } from "node:crypto";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectEngine, type OwnedEngine } from "../../agent/docker/engine.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { fixtureImage, testRunId } from "../support/images.js";
import { runOnNetwork, testNetwork, traefikLookalike, type TraefikLookalike } from "../support/traefik-lookalike.js";

const run = testRunId();
const docker = new Dockerode();
let engine: OwnedEngine;
let plainImage: string;
let traefik: TraefikLookalike;

beforeAll(async () => {
  engine = (await connectEngine("/var/run/docker.sock")).ownedBy({ agentId: randomBytes(16).toString("hex"), recordedDeploy: () => false });
  plainImage = await fixtureImage(docker, "good", `tw-plain-${run}`);
  traefik = await traefikLookalike(docker, `tw-traefik-${run}`, run);
}, 240_000);

afterAll(async () => {
  await cleanupTestRun();
});

describe("traefikOnNetwork", () => {
  it("names the running containers on the network whose image is named or tagged like Traefik, and not the app beside them", async () => {
    const network = await testNetwork(docker, `tw-net-${run}`, run);
    await runOnNetwork(docker, { name: `tw-app-${run}`, image: plainImage, network, runId: run });
    await runOnNetwork(docker, { name: `tw-edge-${run}`, image: traefik.ref, network, runId: run });
    // Created from the image id, the container shows no name: the image's tags still tell.
    await runOnNetwork(docker, { name: `tw-edge-by-id-${run}`, image: traefik.id, network, runId: run });
    await runOnNetwork(docker, { name: `tw-edge-stopped-${run}`, image: traefik.ref, network, runId: run, start: false });
    const peers = await engine.traefikOnNetwork(network, 5000);
    expect(peers).toEqual({ network, exists: true, traefik: [`tw-edge-${run}`, `tw-edge-by-id-${run}`].sort() });
  });

  it("finds no Traefik on a network that holds only an app", async () => {
    const network = await testNetwork(docker, `tw-lonely-${run}`, run);
    await runOnNetwork(docker, { name: `tw-alone-${run}`, image: plainImage, network, runId: run });
    expect(await engine.traefikOnNetwork(network, 5000)).toEqual({ network, exists: true, traefik: [] });
  });

  it("tells a network that does not exist yet from an empty one, even when an existing name contains it", async () => {
    const network = await testNetwork(docker, `tw-present-${run}`, run);
    // The Engine's name filter matches part of a name: this one is part of the network above.
    const absent = network.slice(0, -1);
    expect(await engine.traefikOnNetwork(absent, 5000)).toEqual({ network: absent, exists: false, traefik: [] });
  });
});
