// docker/ against the real Engine and the test registry on 127.0.0.1:5000: a pull that fails inside
// the progress stream, stop/remove idempotence, the health check the agent builds and the waits on
// it. No mocks; fixtures from test/fixtures/images. The test's own setup uses dockerode directly.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import Dockerode from "dockerode";
import type Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { AgentError } from "../../agent/errors.js";
import { AGENT_LABELS } from "../../agent/labels.js";
import { connectEngine, type OwnedEngine } from "../../agent/docker/engine.js";
import type { HealthSpec } from "../../agent/docker/health.js";
import { ownerLabels } from "../../agent/docker/ownership.js";
import { cleanupTestRun, disposableContainer } from "../support/cleanup.js";
import { FIXTURE_PORT, TEST_REGISTRY, TEST_RUN_LABEL, fixtureImage, publishVersion, removeLocalImages, testRunId, type Behaviour } from "../support/images.js";

/** The test registry's storage root and layout (test/env/ensure.sh; distribution's filesystem driver). */
const REGISTRY_STORAGE = "/tmp/deploy-agent-test-registry";
const blobDataPath = (digest: string): string => {
  const hex = digest.replace(/^sha256:/, "");
  return path.join(REGISTRY_STORAGE, "docker/registry/v2/blobs/sha256", hex.slice(0, 2), hex, "data");
};

const run = testRunId();
const repo = `docker-it/pull-${run}`;
const network = `da-docker-it-${run}`;
const health: HealthSpec = { path: "/health", port: FIXTURE_PORT, intervalMs: 1000, startTimeoutMs: 30_000 };
const docker = new Dockerode();
const owner = { agentId: randomBytes(16).toString("hex"), recordedDeploy: () => false };
let engine: OwnedEngine;

beforeAll(async () => {
  engine = (await connectEngine("/var/run/docker.sock")).ownedBy(owner);
});

async function inspectImage(ref: string): Promise<Docker.ImageInspectInfo | undefined> {
  return docker
    .getImage(ref)
    .inspect()
    .catch((err: unknown) => {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    });
}

afterAll(async () => {
  await cleanupTestRun();
});

/** Error thrown by `work`, which must throw; a resolved promise fails the test. */
async function rejection(work: Promise<unknown>): Promise<AgentError> {
  const outcome = await work.then(
    (value) => ({ value }),
    (err: unknown) => ({ err }),
  );
  if (!("err" in outcome)) throw new Error(`expected a rejection, got ${JSON.stringify(outcome.value).slice(0, 200)}`);
  expect(outcome.err).toBeInstanceOf(AgentError);
  return outcome.err as AgentError;
}

interface DistributionManifest {
  mediaType: string;
  config: { digest: string };
  layers: { digest: string; size: number }[];
}

async function registryManifest(repository: string, digest: string): Promise<DistributionManifest> {
  const res = await fetch(`http://${TEST_REGISTRY}/v2/${repository}/manifests/${digest}`, {
    headers: { accept: "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json" },
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 200) throw new Error(`GET manifest ${repository}@${digest}: HTTP ${res.status}`);
  return (await res.json()) as DistributionManifest;
}

/** The image and every ancestor of it: the classic builder keeps one image per Dockerfile step. */
async function imageChain(id: string): Promise<Docker.ImageInspectInfo[]> {
  const chain: Docker.ImageInspectInfo[] = [];
  for (let cur: string | undefined = id; cur; ) {
    const info: Docker.ImageInspectInfo | undefined = await inspectImage(cur);
    if (!info) break;
    chain.push(info);
    cur = info.Parent || undefined;
  }
  return chain;
}

/** Creates (not starts) a container from a fixture the way deploy's create step does, owned by the test's agent. */
async function createGreen(behaviour: Behaviour, name: string): Promise<Docker.Container> {
  const local = await fixtureImage(docker, behaviour, `docker-it-${run}`);
  const image = await engine.inspectImage(local);
  if (!image) throw new Error(`fixture ${local} missing right after the build`);
  const hc = await engine.chooseHealthcheck(name, image, health);
  await engine.ensureNetwork(network);
  return docker.createContainer({
    name,
    Image: image.id,
    Labels: { [TEST_RUN_LABEL]: run, ...ownerLabels(name, owner) },
    ExposedPorts: { [`${FIXTURE_PORT}/tcp`]: {} },
    Healthcheck: hc.healthcheck,
    StopTimeout: 5,
    HostConfig: { Init: true, RestartPolicy: { Name: "no" }, NetworkMode: network },
    NetworkingConfig: { EndpointsConfig: { [network]: {} } },
  });
}

describe("pullImage", () => {
  it("fails with PULL_FAILED naming the reference and the digest when a layer blob in the registry is corrupt", async () => {
    // A version unique to this run makes the top layer (the RUN that writes /www) unique, so no
    // other image on this shared Engine holds it and the Engine has to download it.
    const version = `corrupt-${run}`;
    const local = await fixtureImage(docker, "good", version);
    const pushed = await publishVersion({ repo: `${repo}-corrupt`, tag: "v1", behaviour: "good", version, docker });
    const ref = `${pushed.image}@${pushed.digest}`;

    const manifest = await registryManifest(`${repo}-corrupt`, pushed.digest);
    const top = manifest.layers.at(-1);
    if (!top) throw new Error(`manifest of ${ref} has no layers`);
    const blob = blobDataPath(top.digest);
    const original = await readFile(blob);
    expect(original.length).toBe(top.size);
    // Same length, different bytes: the registry serves it with the right Content-Length and the
    // Engine only notices when it checks the digest.
    await writeFile(blob, Buffer.from(original.map((b) => b ^ 0xff)));
    onTestFinished(() => writeFile(blob, original)); // leave the shared registry's storage sound

    const builtImage = await inspectImage(local);
    if (!builtImage) throw new Error(`fixture ${local} missing right after the build`);
    const topDiffId = builtImage.RootFS.Layers?.at(-1);
    if (!topDiffId) throw new Error(`fixture ${local} has no layers`);
    // The build's intermediate images from the RUN that wrote /www on hold the unique layer too;
    // the ones before it (busybox, shared with every fixture build on this Engine) stay.
    const holders = (await imageChain(builtImage.Id)).filter((i) => i.RootFS.Layers?.includes(topDiffId)).map((i) => i.Id);
    expect(holders.length).toBeGreaterThanOrEqual(2);
    // By ID and forced: the fixture tag, the pushed tag and its RepoDigest go at once, and the
    // untagged intermediate images are pruned with it (noprune is false).
    await docker.getImage(builtImage.Id).remove({ force: true });
    for (const id of holders) expect(await inspectImage(id), `${id} still on the Engine`).toBeUndefined();
    expect(await inspectImage(ref)).toBeUndefined();

    const err = await rejection(engine.pullImage(ref, { timeoutMs: 120_000 }));
    // Content that does not match its digest is the registry's copy gone bad, not the release: retried.
    expect(err.code).toBe("PULL_FAILED");
    expect(err.message).toBe(`pull of ${ref} failed: filesystem layer verification failed for digest ${top.digest}`);
    // From the stream, not from an HTTP status: those carry the dockerode error as the cause.
    expect(err.cause).toBeUndefined();
    expect(await inspectImage(ref)).toBeUndefined();

    // Why pullImage reads every line: the Engine answered 200 and docker-modem's followProgress
    // reports that same pull as a success, the error only in the last object.
    const stream = await docker.pull(ref);
    const [finishErr, output] = await new Promise<[Error | null, { error?: string }[]]>((resolve) =>
      docker.modem.followProgress(stream, (e: Error | null, out: { error?: string }[]) => resolve([e, out])),
    );
    expect(finishErr).toBeNull();
    expect(output.at(-1)?.error).toBe(`filesystem layer verification failed for digest ${top.digest}`);
    expect(await inspectImage(ref)).toBeUndefined();
  });

  it("fails with PULL_FAILED naming the reference when the digest does not exist", async () => {
    // The repository exists (one tag pushed); only the digest is unknown to it.
    const pushed = await publishVersion({ repo: `${repo}-missing`, tag: "v1", behaviour: "good", version: `docker-it-${run}`, docker });
    const missing = `sha256:${createHash("sha256").update(`no such manifest ${run}`).digest("hex")}`;
    const ref = `${pushed.image}@${missing}`;

    const err = await rejection(engine.pullImage(ref, { timeoutMs: 60_000 }));

    expect(err.code).toBe("PULL_FAILED");
    expect(err.message).toBe(`pull of ${ref} failed: not found in the registry`);
    // The Engine refuses before any progress: HTTP 404, which dockerode rejects with.
    expect(err.cause).toMatchObject({ statusCode: 404 });
  });

  it("returns the inspected image whose RepoDigests contain the reference", async () => {
    const pushed = await publishVersion({ repo: `${repo}-good`, tag: "v1", behaviour: "good", version: `docker-it-${run}`, docker });
    const ref = `${pushed.image}@${pushed.digest}`;
    await removeLocalImages(`${repo}-good`, docker);
    expect(await inspectImage(ref)).toBeUndefined();

    const progress: string[] = [];
    const image = await engine.pullImage(ref, { timeoutMs: 120_000, onProgress: (m) => progress.push(m) });

    expect(image.repoDigests).toContain(ref);
    expect((await inspectImage(ref))?.Id).toBe(image.id);
    expect(progress).toContain(`Digest: ${pushed.digest}`);
  });
});

describe("stopAndRemove and remove", () => {
  it("succeed on an already stopped and on an already removed container", async () => {
    const name = `docker-it-idem-${run}`;
    await using held = disposableContainer(await createGreen("good", name));
    const { id } = held.container;
    await held.container.start();
    expect((await engine.inspect(id))?.running).toBe(true);

    await held.container.stop({ t: 5 });
    expect((await engine.inspect(id))?.running).toBe(false);
    await engine.stopAndRemove(name, id, 5000);
    expect(await engine.inspect(id)).toBeUndefined();

    await expect(engine.remove(name, id)).resolves.toBeUndefined();
    await expect(engine.stopAndRemove(name, id, 5000)).resolves.toBeUndefined();
  });
});

describe("ensureNetwork", () => {
  it("creates one network when two deploys ask for the same missing one at once", async () => {
    const name = `da-race-${run}`;
    await Promise.all([engine.ensureNetwork(name), engine.ensureNetwork(name), engine.ensureNetwork(name)]);
    const found = (await docker.listNetworks({ filters: { name: [name] } })).filter((n) => n.Name === name);
    expect(found).toHaveLength(1);
    await engine.ensureNetwork(name);
    expect((await docker.listNetworks({ filters: { name: [name] } })).filter((n) => n.Name === name)).toHaveLength(1);
  });
});

describe("chooseHealthcheck", () => {
  const probesLeft = async (app: string): Promise<string[]> =>
    (await docker.listContainers({ all: true, filters: { label: [`${AGENT_LABELS.app}=${app}`, `${AGENT_LABELS.role}=probe`] } })).map((c) => c.Id);

  it("builds a wget probe for a busybox image", async () => {
    const app = `docker-it-wget-${run}`;
    const image = await engine.inspectImage(await fixtureImage(docker, "good", `docker-it-${run}`));
    if (!image) throw new Error("good fixture missing right after the build");

    const hc = await engine.chooseHealthcheck(app, image, health);

    const test = ["CMD", "/bin/wget", "-q", "-O", "/dev/null", `http://127.0.0.1:${FIXTURE_PORT}/health`];
    expect(hc).toEqual({
      source: "agent",
      test,
      healthcheck: { Test: test, Interval: 1_000_000_000, Timeout: 10_000_000_000, StartPeriod: 30_000_000_000, Retries: 3 },
    });
    expect(await probesLeft(app)).toEqual([]);
  });

  it("throws NO_HEALTHCHECK for an image without a probe program", async () => {
    const app = `docker-it-noprobe-${run}`;
    const tag = `deploy-agent-test-noprobe:${run}`;
    const context = await mkdtemp(path.join(tmpdir(), "deploy-agent-noprobe-"));
    try {
      await writeFile(path.join(context, "hello.txt"), "static file, nothing to run\n");
      await writeFile(path.join(context, "Dockerfile"), 'FROM scratch\nCOPY hello.txt /hello.txt\nCMD ["/hello"]\n');
      process.env.TESTCONTAINERS_RYUK_DISABLED = "true";
      const { GenericContainer } = await import("testcontainers");
      await GenericContainer.fromDockerfile(context).build(tag, { deleteOnExit: false });
    } finally {
      await rm(context, { recursive: true, force: true });
    }
    const image = await engine.inspectImage(tag);
    if (!image) throw new Error(`${tag} was not built`);

    const err = await rejection(engine.chooseHealthcheck(app, image, health));

    expect(err.code).toBe("NO_HEALTHCHECK");
    expect(err.message).toBe(`image ${image.id.slice(0, 19)} has no HEALTHCHECK and no curl, wget, python3 or node to probe /health`);
    expect(err.hint).toMatch(/health\.command/);
    expect(await probesLeft(app)).toEqual([]);
  });

  it("uses health.command when given, without looking into the image", async () => {
    const app = `docker-it-command-${run}`;
    const image = await engine.inspectImage(await fixtureImage(docker, "good", `docker-it-${run}`));
    if (!image) throw new Error("good fixture missing right after the build");
    const command = "wget -q -O /dev/null http://127.0.0.1:8000/version";

    const hc = await engine.chooseHealthcheck(app, image, { ...health, command });

    expect(hc).toEqual({
      source: "config",
      test: ["CMD-SHELL", command],
      healthcheck: { Test: ["CMD-SHELL", command], Interval: 1_000_000_000, Timeout: 10_000_000_000, StartPeriod: 30_000_000_000, Retries: 3 },
    });
  });
});

describe("waitHealthy", () => {
  it("throws GREEN_UNHEALTHY naming the deadline when green never becomes healthy", async () => {
    const name = `docker-it-never-${run}`;
    await using held = disposableContainer(await createGreen("never-healthy", name));
    await held.container.start();
    const info = await held.container.inspect();
    const ip = info.NetworkSettings.Networks[network]?.IPAddress;
    const probeUrl = `http://${ip}:${FIXTURE_PORT}/health`;

    const err = await rejection(engine.waitHealthy(held.container.id, { probeUrl, deadlineMs: 3000, successes: 1, label: `green ${name}` }));

    expect(err.code).toBe("GREEN_UNHEALTHY");
    // The 30 s start period keeps Docker at "starting", so the agent's deadline decides.
    expect(err.message).toBe(`green ${name} not healthy after 3s (Docker health: starting; agent probe ${probeUrl}: HTTP 404)`);
    expect(err.hint).toMatch(/health\.startTimeout/);
  });

  it("throws GREEN_EXITED with the exit code and the last log line when green crashes", async () => {
    const name = `docker-it-crash-${run}`;
    await using held = disposableContainer(await createGreen("crash", name));
    await held.container.start();

    const err = await rejection(engine.waitHealthy(held.container.id, { deadlineMs: 30_000, successes: 1, label: `green ${name}` }));

    expect(err.code).toBe("GREEN_EXITED");
    expect(err.message).toBe(
      `green ${name} exited (status exited, exit code 1); last log lines:\ncrash fixture docker-it-${run}: exiting with status 1`,
    );
  });
});
