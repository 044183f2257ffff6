// The look for Traefik on a route's network against the real Engine: a running container whose
// image is named or tagged like Traefik is found, an app's container is not, a stopped Traefik does
// not count, and a network that does not exist yet is told apart from an empty one.
import { randomBytes } from "node:crypto";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectEngine, type OwnedEngine } from "../../agent/docker/engine.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { TEST_RUN_LABEL, fixtureImage, testRunId } from "../support/images.js";

const run = testRunId();
const docker = new Dockerode();
const network = `tw-net-${run}`;
let engine: OwnedEngine;
let plainImage: string;
/** The `good` fixture committed as another image (so the app's image does not carry its tag). */
let traefikRef: string;
let traefikId: string;

beforeAll(async () => {
  engine = (await connectEngine("/var/run/docker.sock")).ownedBy({ agentId: randomBytes(16).toString("hex"), recordedDeploy: () => false });
  plainImage = await fixtureImage(docker, "good", `tw-plain-${run}`);
  const base = await docker.createContainer({ Image: plainImage, Labels: { [TEST_RUN_LABEL]: run } });
  const committed = (await base.commit({ repo: `tw-traefik-${run}`, tag: "v3" })) as { Id: string };
  await base.remove();
  traefikRef = `tw-traefik-${run}:v3`;
  traefikId = committed.Id;
  await docker.createNetwork({ Name: network, Driver: "bridge", Labels: { [TEST_RUN_LABEL]: run } });
}, 240_000);

afterAll(async () => {
  await cleanupTestRun();
});

async function runOn(name: string, image: string, start = true): Promise<void> {
  const c = await docker.createContainer({ name, Image: image, Labels: { [TEST_RUN_LABEL]: run }, HostConfig: { Init: true, NetworkMode: network } });
  if (start) await c.start();
}

describe("traefikOnNetwork", () => {
  it("names the running containers on the network whose image is named or tagged like Traefik, and not the app beside them", async () => {
    await runOn(`tw-app-${run}`, plainImage);
    await runOn(`tw-edge-${run}`, traefikRef);
    // Created from the image id, the container shows no name: the image's tags still tell.
    await runOn(`tw-edge-by-id-${run}`, traefikId);
    await runOn(`tw-edge-stopped-${run}`, traefikRef, false);
    const peers = await engine.traefikOnNetwork(network, 5000);
    expect(peers).toEqual({ network, exists: true, traefik: [`tw-edge-${run}`, `tw-edge-by-id-${run}`].sort() });
  });

  it("finds no Traefik on a network that holds only an app", async () => {
    const lonely = `tw-lonely-${run}`;
    await docker.createNetwork({ Name: lonely, Driver: "bridge", Labels: { [TEST_RUN_LABEL]: run } });
    const c = await docker.createContainer({ name: `tw-alone-${run}`, Image: plainImage, Labels: { [TEST_RUN_LABEL]: run }, HostConfig: { Init: true, NetworkMode: lonely } });
    await c.start();
    expect(await engine.traefikOnNetwork(lonely, 5000)).toEqual({ network: lonely, exists: true, traefik: [] });
  });

  it("tells a network that does not exist yet from an empty one, even when a longer name contains it", async () => {
    // The Engine's name filter matches part of a name: this one is part of `tw-net-<run>`, which exists.
    const absent = `tw-net-${run}`.slice(0, -1);
    expect(await engine.traefikOnNetwork(absent, 5000)).toEqual({ network: absent, exists: false, traefik: [] });
  });
});
