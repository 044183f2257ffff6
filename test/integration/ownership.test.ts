// docker/'s ownership and deadlines against the real Engine: what the agent did not create it never
// stops, removes or replaces; an image with routing or agent labels is refused before anything is
// made from it; a frozen Engine fails a call within docker.timeout, naming the socket and the call.
import { randomBytes } from "node:crypto";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectEngine, type ContainerSpec, type OwnedEngine } from "../../agent/docker/engine.js";
import { ownerLabels } from "../../agent/docker/ownership.js";
import { AgentError } from "../../agent/errors.js";
import { AGENT_LABELS } from "../../agent/labels.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { startEngineProxy } from "../support/engine-proxy.js";
import { TEST_RUN_LABEL, fixtureImage, publishVersion, removeImageRef, testRunId } from "../support/images.js";
import { publishLabelled } from "../support/labelled-image.js";

const run = testRunId();
const docker = new Dockerode();
const me = { agentId: randomBytes(16).toString("hex"), recordedDeploy: (_app: string, id: string) => id === "41" };
let engine: OwnedEngine;
let image: string;

beforeAll(async () => {
  engine = (await connectEngine("/var/run/docker.sock")).ownedBy(me);
  image = await fixtureImage(docker, "good", `own-it-${run}`);
});

afterAll(async () => {
  await cleanupTestRun();
});

async function rejection(work: Promise<unknown>): Promise<AgentError> {
  const err = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AgentError);
  return err as AgentError;
}

/** A running container made the way a person (or another agent) would, with the given labels. */
async function runForeign(name: string, labels: Record<string, string>): Promise<string> {
  const c = await docker.createContainer({ name, Image: image, Labels: { [TEST_RUN_LABEL]: run, ...labels }, HostConfig: { Init: true } });
  await c.start();
  return c.id;
}

async function isRunning(id: string): Promise<boolean> {
  return (await docker.getContainer(id).inspect()).State.Running;
}

function greenSpec(app: string, slot: "blue" | "green", labels: Record<string, string> = {}): ContainerSpec {
  return {
    name: `${app}-${slot}`,
    Image: image,
    Labels: { [TEST_RUN_LABEL]: run, [AGENT_LABELS.slot]: slot, ...labels },
    Env: [],
    ExposedPorts: { "8000/tcp": {} },
    Healthcheck: { Test: ["NONE"], Interval: 0, Timeout: 0, StartPeriod: 0, Retries: 0 },
    StopTimeout: 5,
    HostConfig: { Init: true, Binds: [], RestartPolicy: { Name: "no" } },
  };
}

describe("containers the agent did not create", () => {
  it("fails create with CONTAINER_CONFLICT naming a foreign container in green's name, and leaves it running", async () => {
    const app = `own-it-name-${run}`;
    const foreign = await runForeign(`${app}-blue`, {});

    const err = await rejection(engine.createGreen(app, greenSpec(app, "blue")));

    expect(err.code).toBe("CONTAINER_CONFLICT");
    expect(err.message).toBe(
      `container ${app}-blue (${foreign.slice(0, 12)}, running) holds the name the agent needs for ${app}, but it is not created by deploy-agent; the agent leaves it alone and did not deploy`,
    );
    expect(err.hint).toContain(`docker rename ${app}-blue`);
    expect(await isRunning(foreign)).toBe(true);
    expect((await engine.summary(app)).conflicts).toEqual([{ id: foreign, name: `${app}-blue`, state: "running", reason: "not created by deploy-agent" }]);
  });

  it("never stops or removes another agent's container of the same app, nor an unrecorded one without an owner", async () => {
    const app = `own-it-other-${run}`;
    const otherAgent = await runForeign(`${app}-x`, { ...ownerLabels(app, { agentId: "b".repeat(32), recordedDeploy: () => false }) });
    const unrecorded = await runForeign(`${app}-y`, { [AGENT_LABELS.managed]: "true", [AGENT_LABELS.app]: app, [AGENT_LABELS.deployId]: "40", [AGENT_LABELS.digest]: "sha256:40" });

    for (const id of [otherAgent, unrecorded]) {
      expect((await rejection(engine.stopAndRemove(app, id, 1000))).code).toBe("CONTAINER_CONFLICT");
      expect((await rejection(engine.remove(app, id))).code).toBe("CONTAINER_CONFLICT");
      expect((await rejection(engine.setRestartPolicy(app, id, "always"))).code).toBe("CONTAINER_CONFLICT");
      expect(await isRunning(id)).toBe(true);
    }
    expect((await engine.containers(app)).own).toEqual([]);
  });

  it("adopts a container made before owner labels when its deploy is in the state file", async () => {
    const app = `own-it-legacy-${run}`;
    const id = await runForeign(`${app}-blue`, { [AGENT_LABELS.managed]: "true", [AGENT_LABELS.app]: app, [AGENT_LABELS.deployId]: "41", [AGENT_LABELS.digest]: "sha256:41" });

    const seen = await engine.containers(app);

    expect(seen.own.map((c) => c.id)).toEqual([id]);
    expect(seen.conflicts).toEqual([]);
  });

  it("replaces its own leftover in green's name and labels green with its identity", async () => {
    const app = `own-it-leftover-${run}`;
    const first = await engine.createGreen(app, greenSpec(app, "green"));
    const second = await engine.createGreen(app, greenSpec(app, "green"));

    expect(second).not.toBe(first);
    expect((await engine.inspect(first))).toBeUndefined();
    expect((await engine.inspect(second))?.labels).toMatchObject({ ...ownerLabels(app, me), [AGENT_LABELS.slot]: "green" });
  });

  it("removes only its own keep-tags", async () => {
    const app = `own-it-tags-${run}`;
    const { Id } = await docker.getImage(image).inspect();
    const tag = await engine.keepImage(app, Id, 3);
    const theirs = `own-it-theirs-${run}`;
    await docker.getImage(Id).tag({ repo: theirs, tag: "v1" });

    expect(await engine.dropKeepTag(app, `${theirs}:v1`)).toBe(false);
    expect(await engine.dropKeepTag(app, tag)).toBe(true);

    const after = await docker.getImage(Id).inspect();
    expect(after.RepoTags).toContain(`${theirs}:v1`);
    expect(after.RepoTags).not.toContain(tag);
  });
});

describe("old releases' images", () => {
  /** Pulls a fresh version by digest as the agent does, leaving the pull's reference as the image's only one. */
  async function pulledRelease(repo: string, version: string): Promise<{ ref: string; image: string; digest: string; id: string }> {
    const pushed = await publishVersion({ repo, tag: version, behaviour: "good", version, docker });
    const built = await docker.getImage(`${pushed.image}:${version}`).inspect();
    for (const t of built.RepoTags ?? []) await removeImageRef(docker, t);
    const ref = `${pushed.image}@${pushed.digest}`;
    await new Promise<void>((resolve, reject) =>
      docker.pull(ref, (err: Error | null, stream: NodeJS.ReadableStream) => (err ? reject(err) : docker.modem.followProgress(stream, (e) => (e ? reject(e) : resolve())))),
    );
    const { Id, RepoTags } = await docker.getImage(ref).inspect();
    expect(RepoTags ?? []).toEqual([]);
    return { ref, image: pushed.image, digest: pushed.digest, id: Id };
  }

  it("leave the host with the agent's keep-tag and pull reference, but stay while someone else's tag holds them", async () => {
    const app = `own-it-prune-${run}`;
    const alone = await pulledRelease(`own-it/prune-a-${run}`, `own-prune-a-${run}`);
    const shared = await pulledRelease(`own-it/prune-b-${run}`, `own-prune-b-${run}`);
    const theirs = `own-it-theirs-${run}`;
    await docker.getImage(shared.id).tag({ repo: theirs, tag: "keep-me" });

    for (const [i, r] of [alone, shared].entries()) {
      const tag = await engine.keepImage(app, r.id, i + 1);
      expect(await engine.dropKeepTag(app, tag)).toBe(true);
      expect(await engine.dropPullRef(r.image, r.digest)).toBe(true);
    }

    expect(await engine.inspectImage(alone.id)).toBeUndefined();
    const kept = await docker.getImage(shared.id).inspect();
    expect(kept.RepoTags).toEqual([`${theirs}:keep-me`]);
    expect(kept.RepoDigests ?? []).not.toContain(shared.ref);
  });
});

describe("images that carry routing or agent labels", () => {
  it("refuses them with IMAGE_REFUSED naming the labels, before any container is made", async () => {
    const app = `own-it-img-${run}`;
    const pushed = await publishLabelled({
      repo: `own-it/labelled-${run}`,
      tag: "v1",
      version: `own-it-${run}`,
      labels: { "Traefik.http.routers.evil.rule": "Host(`bank.test`)", "deploy-agent.role": "probe", "org.opencontainers.image.title": "fine" },
    });
    const local = await engine.inspectImage(`${pushed.image}:${pushed.tag}`);
    if (!local) throw new Error("labelled image missing right after the build");

    const fromHealth = await rejection(engine.chooseHealthcheck(app, local, { path: "/health", port: 8000, intervalMs: 1000, startTimeoutMs: 10_000 }));
    const fromCreate = await rejection(engine.createGreen(app, { ...greenSpec(app, "blue"), Image: local.id }));

    for (const err of [fromHealth, fromCreate]) {
      expect(err.code).toBe("IMAGE_REFUSED");
      expect(err.message).toMatch(/carries labels only agent\.yaml may set: Traefik\.http\.routers\.evil\.rule, deploy-agent\.role; it was not deployed/);
    }
    const made = await docker.listContainers({ all: true, filters: { label: [`${AGENT_LABELS.app}=${app}`] } });
    expect(made).toEqual([]);
  });
});

describe("an Engine that stops answering", () => {
  it("fails a call with ENGINE_UNAVAILABLE naming the socket and the call, and works again once the Engine answers", async () => {
    const proxy = await startEngineProxy();
    try {
      const frozen = (await connectEngine(proxy.socketPath, { timeoutMs: 1500 })).ownedBy(me);
      expect(await frozen.inspectImage(image)).toBeDefined();
      proxy.freeze();

      const err = await rejection(frozen.inspectImage(image));

      expect(err.code).toBe("ENGINE_UNAVAILABLE");
      expect(err.message).toBe(`Docker Engine at ${proxy.socketPath} did not answer inspect of image ${image} within 1500ms`);
      proxy.resume();
      expect(await frozen.inspectImage(image)).toBeDefined();
    } finally {
      await proxy.close();
    }
  });
});
