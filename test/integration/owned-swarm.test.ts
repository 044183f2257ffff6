// The Swarm half of the Engine boundary (agent/docker/owned-swarm.ts) on a real single-node swarm:
// a private dockerd of this file's own (test/support/private-dockerd.ts) made a swarm manager, so
// swarm mode never reaches the Engine the other tests share. Fixture images are pushed to the test
// registry and run by digest. No daemon: the docker/ operations the Swarm deploy path will call.
import { randomBytes } from "node:crypto";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OwnedSwarm } from "../../agent/docker/engine.js";
import type { TaskView } from "../../agent/docker/owned-swarm.js";
import { AgentError } from "../../agent/errors.js";
import { AGENT_LABELS } from "../../agent/labels.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { publishVersion, TEST_REGISTRY, TEST_RUN_LABEL, testRunId, type PublishedImage } from "../support/images.js";
import { publishSwarmFixtures, startPrivateSwarm, swarmWebSpec, type PrivateSwarm, type SwarmFixtures } from "../support/private-swarm.js";
import { startRegistry, type RegistryServer } from "../support/registry-server.js";

const run = testRunId();
const app = `sw-web-${run}`;
const network = `sw-net-${run}`;
const me = { agentId: randomBytes(16).toString("hex"), recordedDeploy: () => false };
/** Long enough for a start and a rollback on a loaded 2-core box; a follow that needs it has failed anyway. */
const FOLLOW_DEADLINE_MS = 60_000;

let ps: PrivateSwarm | undefined;
/** A registry that answers only with the credentials: what the nodes pull with is what the agent sent. */
let locked: RegistryServer | undefined;
const lockedAuth = { username: "agent", password: "swarm-secret" };
let docker: Dockerode;
let swarm: OwnedSwarm;
let images: SwarmFixtures;

/** Web's service of `app` at `image` on the file's network (see swarmWebSpec). */
function spec(image: PublishedImage, version: string, generation: number, name = app) {
  return swarmWebSpec(name, image, { version, generation }, [`networks: [${network}]`]);
}

const byDigest = (i: PublishedImage) => `${i.image}@${i.digest}`;

/** The tasks Swarm wants running: the service's current replicas. */
const live = (tasks: TaskView[]) => tasks.filter((t) => t.desiredState === "running");

async function rejection(p: Promise<unknown>): Promise<AgentError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AgentError);
  return err as AgentError;
}

beforeAll(async () => {
  images = await publishSwarmFixtures(`swarm/web-${run}`);
  // Its own network namespace and data root: the swarm, its services and overlay networks end with it.
  ps = await startPrivateSwarm("s22sw", me);
  ({ docker, swarm } = ps);
}, 180_000);

afterAll(async () => {
  await locked?.stop();
  await ps?.close();
  // The shared Engine keeps only the tags publishVersion made there, all named after the run.
  await cleanupTestRun();
}, 120_000);

describe("the agent's Swarm services on a single-node swarm", () => {
  it("reads the Engine as a Swarm manager", async () => {
    expect(await swarm.swarmRole()).toBe("manager");
  });

  it("creates an attachable overlay network with its owner labels, uses a foreign overlay, and refuses a foreign bridge", async () => {
    await swarm.ensureNetwork(network);
    await swarm.ensureNetwork(network);
    const made = await docker.getNetwork(network).inspect();
    expect([made.Driver, made.Attachable, made.Labels?.[AGENT_LABELS.owner]]).toEqual(["overlay", true, me.agentId]);

    await docker.createNetwork({ Name: `${network}-theirs`, Driver: "overlay", Attachable: false });
    await swarm.ensureNetwork(`${network}-theirs`);
    await docker.createNetwork({ Name: `${network}-bridge`, Driver: "bridge" });
    const err = await rejection(swarm.ensureNetwork(`${network}-bridge`));
    expect(err.code).toBe("SERVICE_CONFLICT");
    expect(err.message).toContain("driver bridge");
    expect((await docker.getNetwork(`${network}-bridge`).inspect()).Driver).toBe("bridge");
  });

  it("creates web's service by digest and follows it until both tasks run healthy", async () => {
    const seen: TaskView[] = [];
    await swarm.createService(spec(images.v1, "v1", 1));
    const r = await swarm.followUpdate(app, { deadlineMs: FOLLOW_DEADLINE_MS, onTask: (t) => seen.push(t) });
    expect([r.state, r.message]).toEqual(["running", `2 of 2 tasks of ${byDigest(images.v1)} run and healthy`]);
    expect(live(r.tasks).map((t) => [t.state, t.image])).toEqual([
      ["running", byDigest(images.v1)],
      ["running", byDigest(images.v1)],
    ]);
    expect(seen.some((t) => t.state !== "running")).toBe(true);
    const s = await swarm.inspectService(app);
    expect(s?.labels).toMatchObject({ [AGENT_LABELS.owner]: me.agentId, [AGENT_LABELS.app]: app, [AGENT_LABELS.version]: "v1" });
    expect(s?.updateStatus).toBeUndefined();
  });

  it("updates it to a second good digest with registry credentials: the update completes and every task runs the new digest", async () => {
    const before = (await swarm.inspectService(app))!;
    const auth = { username: "agent", password: "secret", serveraddress: TEST_REGISTRY };
    await swarm.updateService(app, before.version, spec(images.v2, "v2", 2), auth);
    const r = await swarm.followUpdate(app, { deadlineMs: FOLLOW_DEADLINE_MS });
    expect(r.state, r.message).toBe("completed");
    expect(live(r.tasks).map((t) => [t.state, t.image])).toEqual([
      ["running", byDigest(images.v2)],
      ["running", byDigest(images.v2)],
    ]);
    expect(r.service.labels[AGENT_LABELS.version]).toBe("v2");
  });

  // rollback_completed, not paused: UpdateConfig's FailureAction is rollback, and the previous spec
  // (v2) comes up healthy, so the rollback ends by itself; rollback_paused would mean v2 failed too.
  it("rolls back an update to a never-healthy image by itself: rollback_completed, and v2's tasks run", async () => {
    const before = (await swarm.inspectService(app))!;
    const seen: TaskView[] = [];
    await swarm.updateService(app, before.version, spec(images.bad, "bad", 3));
    const r = await swarm.followUpdate(app, { deadlineMs: FOLLOW_DEADLINE_MS, onTask: (t) => seen.push(t) });
    expect(r.state, r.message).toBe("rollback_completed");
    expect(r.message).toMatch(/rollback completed/);
    expect(live(r.tasks).map((t) => [t.state, t.image])).toEqual([
      ["running", byDigest(images.v2)],
      ["running", byDigest(images.v2)],
    ]);
    expect(r.service.image).toBe(byDigest(images.v2));
    // The progress showed the bad task and why it ended.
    expect(seen.some((t) => t.image === byDigest(images.bad) && t.desiredState !== "running")).toBe(true);
  });

  it("refuses a service of the same name without owner labels, and leaves it untouched (SERVICE_CONFLICT)", async () => {
    const name = `sw-foreign-${run}`;
    await docker.createService({
      Name: name,
      Labels: { [TEST_RUN_LABEL]: run },
      TaskTemplate: { ContainerSpec: { Image: byDigest(images.v1) } },
      Mode: { Replicated: { Replicas: 0 } },
    });
    const before = await docker.getService(name).inspect();
    const refusals = [
      () => swarm.inspectService(name),
      () => swarm.createService({ ...spec(images.v2, "v2", 4), Name: name }),
      () => swarm.updateService(name, before.Version.Index, spec(images.v2, "v2", 4)),
      () => swarm.followUpdate(name, { deadlineMs: 1_000 }),
      () => swarm.removeService(name),
    ];
    for (const refused of refusals) {
      const err = await rejection(refused());
      expect(err.code).toBe("SERVICE_CONFLICT");
      expect(err.message).toContain(`service ${name}`);
      expect(err.message).toContain("not created by deploy-agent");
    }
    const after = await docker.getService(name).inspect();
    expect([after.Version.Index, after.Spec.Labels]).toEqual([before.Version.Index, before.Spec.Labels]);
    await docker.getService(name).remove();
  });

  it("sends registry credentials with a create, so the node pulls from a registry that requires them", async () => {
    locked = await startRegistry({ kind: "htpasswd", users: { [lockedAuth.username]: lockedAuth.password } });
    await ps!.dockerd.reach(Number(locked.host.split(":")[1]));
    const auth = { ...lockedAuth, serveraddress: locked.host };
    const image = await publishVersion({ repo: `swarm/locked-${run}`, tag: "v1", behaviour: "good", version: "locked", registry: locked.host, auth });
    const name = `sw-locked-${run}`;
    await swarm.ensureNetwork(network);
    await swarm.createService(spec(image, "locked", 1, name), auth);
    const r = await swarm.followUpdate(name, { deadlineMs: FOLLOW_DEADLINE_MS }).finally(() => swarm.removeService(name));
    expect([r.state, r.message], JSON.stringify(r.tasks)).toEqual(["running", `2 of 2 tasks of ${byDigest(image)} run and healthy`]);
  });

  it("removes its service, and a removed one counts as removed", async () => {
    await swarm.removeService(app);
    await swarm.removeService(app);
    expect(await swarm.inspectService(app)).toBeUndefined();
    expect((await docker.listServices()).map((s) => s.Spec?.Name)).toEqual([]);
  });
});
