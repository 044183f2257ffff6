// An app whose tracked tag is an OCI index (docs/design.md#platform-choice): the daemon deploys this host's
// platform entry (linux/amd64), records both the platform manifest digest and the index digest,
// ignores the attestation entry, and redeploys only when the amd64 entry itself moves.
import { createHash } from "node:crypto";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppStatus } from "../../agent/control/protocol.js";
import {
  agentYaml,
  type AgentProcess,
  appStatus,
  deployHistory,
  makeAgentDir,
  removeDir,
  servedVersion,
  settledDeploy,
  startAgent,
  storyApp,
  waitFor,
  writeConfig,
} from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { TEST_REGISTRY, publishVersion, testRunId } from "../support/images.js";
import { startCountingProxy, type CountingProxy } from "../support/loopback.js";
import { startTraefikModel } from "../support/traefik-model.js";

const run = testRunId();
const app = `multi-${run}`;
const repo = `stories/${app}`;
const host = `${app}.test`;
const docker = new Dockerode();
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const MANIFEST_ACCEPT = [
  OCI_INDEX,
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.v2+json",
].join(", ");

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
}

let agent: AgentProcess;
let traefik: Awaited<ReturnType<typeof startTraefikModel>>;
/** The agent reaches the registry through this proxy, so the test sees which manifests it read. */
let proxy: CountingProxy;
let dir: string;
const pushed: Record<"v1" | "v2" | "armA" | "armB" | "attestation", Descriptor> = {} as never;

/** The descriptor of what `<repo>:<tag>` names, read from the registry as any client would. */
async function descriptor(tag: string): Promise<Descriptor> {
  const res = await fetch(`http://${TEST_REGISTRY}/v2/${repo}/manifests/${tag}`, { method: "HEAD", headers: { accept: MANIFEST_ACCEPT } });
  expect(res.status, `HEAD ${repo}:${tag}`).toBe(200);
  return {
    mediaType: res.headers.get("content-type")!,
    digest: res.headers.get("docker-content-digest")!,
    size: Number(res.headers.get("content-length")),
  };
}

/**
 * PUTs an OCI index as `latest`, entries in buildx's order: the platform images, then an
 * attestation manifest (platform unknown/unknown). Returns the index digest.
 */
async function pushIndex(amd64: Descriptor, arm64: Descriptor): Promise<string> {
  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { ...amd64, platform: { architecture: "amd64", os: "linux" } },
      { ...arm64, platform: { architecture: "arm64", os: "linux", variant: "v8" } },
      {
        ...pushed.attestation,
        platform: { architecture: "unknown", os: "unknown" },
        annotations: { "vnd.docker.reference.digest": amd64.digest, "vnd.docker.reference.type": "attestation-manifest" },
      },
    ],
  };
  const body = JSON.stringify(index);
  const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
  const res = await fetch(`http://${TEST_REGISTRY}/v2/${repo}/manifests/latest`, { method: "PUT", headers: { "content-type": OCI_INDEX }, body });
  expect(res.status, await res.clone().text()).toBe(201);
  expect(res.headers.get("docker-content-digest")).toBe(digest);
  return digest;
}

const serving = () => servedVersion(traefik.url, host);
const history = () => deployHistory(agent, app);
const settled = () => settledDeploy(agent, app);

/** Waits until `n` polls finished after `sinceMs`; returns what the last one resolved. */
async function polls(sinceMs: number, n: number): Promise<NonNullable<AppStatus["lastPoll"]>> {
  const seen = new Set<string>();
  let last: AppStatus["lastPoll"];
  await waitFor(`${n} polls`, async () => {
    last = (await appStatus(agent, app)).lastPoll;
    if (last !== undefined && Date.parse(last.at) > sinceMs) seen.add(last.at);
    return seen.size >= n;
  }, 60_000, 300);
  return last!;
}

beforeAll(async () => {
  // distribution accepts an index only when every manifest it names is in the same repository.
  const tags = {
    v1: { behaviour: "good", version: "v1" },
    v2: { behaviour: "good", version: "v2" },
    armA: { behaviour: "good", version: "arm-a" },
    armB: { behaviour: "good", version: "arm-b" },
    // If the agent ever ran the attestation entry, the deploy would fail on its exit.
    attestation: { behaviour: "crash", version: "attestation" },
  } as const;
  for (const [key, t] of Object.entries(tags)) {
    await publishVersion({ repo, tag: `push-${key}`, ...t });
    pushed[key as keyof typeof tags] = await descriptor(`push-${key}`);
  }
  proxy = await startCountingProxy(TEST_REGISTRY);
  dir = makeAgentDir();
  writeConfig(
    dir,
    agentYaml(dir, storyApp(app, `${proxy.host}/${repo}`, run)),
  );
  traefik = await startTraefikModel({ docker });
});

afterAll(async () => {
  await agent?.stop();
  await proxy?.stop();
  await traefik?.close();
  await cleanupTestRun();
  if (dir) removeDir(dir);
});

describe("an app whose tag is a multi-platform index", () => {
  let firstIndex: string;

  it("deploys the linux/amd64 entry and records its digest and the index digest", async () => {
    firstIndex = await pushIndex(pushed.v1, pushed.armA);
    agent = await startAgent(dir);
    await waitFor("v1 to serve", async () => (await serving()) === "v1", 90_000);
    const h = await settled();
    expect(h).toMatchObject({ trigger: "poll", outcome: "succeeded", digest: pushed.v1.digest, indexDigest: firstIndex });
    expect(await history()).toHaveLength(1);
    // The Engine pulled the platform manifest (the agent itself reads only the index), never the attestation.
    expect(proxy.lines().some((l) => l.endsWith(` /v2/${repo}/manifests/${pushed.v1.digest}`)), proxy.lines().join("\n")).toBe(true);
    expect(proxy.lines().filter((l) => l.includes(pushed.attestation.digest))).toEqual([]);
  });

  it("does not redeploy when only the arm64 entry moves", async () => {
    proxy.reset();
    const before = await history();
    const pushedAt = Date.now();
    const secondIndex = await pushIndex(pushed.v1, pushed.armB);
    expect(secondIndex).not.toBe(firstIndex);

    const last = await polls(pushedAt, 3);
    expect(last.error).toBeUndefined();
    expect(last.digest).toBe(pushed.v1.digest);
    // The polls did read the new index, and found the same amd64 image in it.
    expect(proxy.lines()).toContain(`GET /v2/${repo}/manifests/${secondIndex}`);
    expect(await history()).toEqual(before);
    expect(await serving()).toBe("v1");
  });

  it("deploys v2 when the amd64 entry moves, and serves it through Traefik's rules", async () => {
    const thirdIndex = await pushIndex(pushed.v2, pushed.armB);
    await waitFor("v2 to serve", async () => (await serving()) === "v2", 90_000);
    const h = await settled();
    expect(h).toMatchObject({ trigger: "poll", outcome: "succeeded", digest: pushed.v2.digest, indexDigest: thirdIndex });
    expect(await history()).toHaveLength(2);
    const running = await docker.listContainers({ filters: { label: [`deploy-agent.app=${app}`] } });
    expect(running.map((c) => c.Names[0])).toEqual([`/${app}-green`]);
  });
});
