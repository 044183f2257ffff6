// A `backend: swarm` app whose image is in a registry that authenticates the way GHCR does (Debian's
// distribution registry with token auth and the test's token server:
// docs/design.md#token-auth-in-the-tests), driven by the real daemon on a private dockerd of this
// file's own made a single-node Swarm manager. The password is only in agent.yaml's registries: that
// dockerd has no credentials of its own (dockerd keeps none; nothing ran docker login against it),
// so whatever it pulls, it pulls with what the agent sent: in the pull step, and, for a task Swarm
// starts later (as on a node that never had the image), with what the service carries
// (X-Registry-Auth on its create and update). App "good" reaches the registry through one counting
// proxy with the right password, app "wrong" through another with a wrong one.
import { execFileSync } from "node:child_process";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeployRecord } from "../../agent/state/schema.js";
import { agentctl, appStatus, deployHistory, startAgent, swarmStoryApp, waitFor, writeConfig, type AgentProcess } from "../support/agent.js";
import { publishVersion, testRunId, type PublishedImage } from "../support/images.js";
import { startCountingProxy, type CountingProxy, type RecordedRequest } from "../support/loopback.js";
import { closeSwarmDockerd, startPrivateDockerd, type PrivateDockerd } from "../support/private-dockerd.js";
import { startRegistry, type RegistryServer } from "../support/registry-server.js";
import { storyScope, type StoryScope } from "../support/story-scope.js";
import { startTokenServer, type TokenServer } from "../support/token-server.js";

const run = testRunId();
const good = `swau-${run}`;
const wrong = `swaw-${run}`;
const repo = `stories/${good}`;
const network = `swan-${run}`;
const PASSWORD = "s3cret-for-alice";
const WRONG_PASSWORD = "not-alices-password";
/** An update moves two tasks one at a time, each watched for its monitor (3 s start + 3 × 500 ms). */
const UPDATE_MS = 60_000;

let scope: StoryScope;
let dir: string;
let tokens: TokenServer;
let registry: RegistryServer;
let goodProxy: CountingProxy;
let wrongProxy: CountingProxy;
let dockerd: PrivateDockerd;
let docker: Dockerode;
let agent: AgentProcess;
const v: Record<string, PublishedImage> = {};

/** The image as the apps name it: the same repository, through each app's own proxy. */
const imageVia = (proxy: CountingProxy) => `${proxy.host}/${repo}`;
const goodRef = (p: PublishedImage) => `${imageVia(goodProxy)}@${p.digest}`;

function secretFile(name: string, secret: string): string {
  const path = join(dir, name);
  writeFileSync(path, `${secret}\n`);
  chmodSync(path, 0o600);
  return path;
}

function publish(version: string): Promise<PublishedImage> {
  return publishVersion({ repo, tag: "latest", behaviour: "good", version, registry: registry.host, auth: { username: "alice", password: PASSWORD, serveraddress: registry.host } });
}

/** Waits until web's service of the good app is set to `p` and both its running tasks run it. */
async function runsOnly(p: PublishedImage): Promise<void> {
  const ref = goodRef(p);
  await waitFor(`both tasks of ${good} to run ${p.digest}`, async () => {
    const s = await docker.getService(good).inspect();
    const tasks = await docker.listTasks({ filters: { service: [good], "desired-state": ["running"] } });
    const running = tasks.filter((t) => t.Status?.State === "running").map((t) => t.Spec?.ContainerSpec?.Image as string);
    return s.Spec.TaskTemplate.ContainerSpec.Image === ref && running.length === 2 && running.every((i) => i === ref);
  }, UPDATE_MS);
}

async function settledDeployOf(app: string, digest: string): Promise<DeployRecord> {
  return waitFor(`a finished deploy of ${app} at ${digest}`, async () => (await deployHistory(agent, app)).find((r) => r.digest === digest && r.outcome !== "running"), UPDATE_MS);
}

/** The manifest fetches by digest that the Engine (user agent docker/…) made through `proxy`, from request `from` on. */
const enginePulls = (proxy: CountingProxy, digest: string, from = 0): RecordedRequest[] =>
  proxy.requests.slice(from).filter((r) => r.method === "GET" && r.url.endsWith(`/manifests/${digest}`) && /^docker\//.test(String(r.headers["user-agent"])));

/** What the private dockerd says to a pull of `ref` with no X-Registry-Auth: its error, or "" when it pulled. */
async function anonymousPull(ref: string): Promise<string> {
  try {
    const stream = await docker.pull(ref);
    await new Promise<void>((resolve, reject) =>
      docker.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve()), (e: { error?: string }) => e.error && reject(new Error(e.error))),
    );
    return "";
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Makes one task of the good app pull `p` again, as a node that never had it would: the node's
 * reference and its cached manifest go (dockerd keeps each manifest it pulled in containerd's
 * content store and reads one it has from there, never asking the registry:
 * https://github.com/moby/moby/blob/v20.10.24/distribution/manifest.go, manifestStore.Get), and one task's container is
 * killed. Its image stays under the running tasks, so Swarm's new task finds no image by that
 * digest and pulls it, with the credentials the service carries: nothing else on the node has any.
 */
async function repullOneTask(p: PublishedImage): Promise<void> {
  const from = goodProxy.requests.length;
  await docker.getImage(goodRef(p)).remove({ force: true });
  execFileSync("ctr", ["--address", dockerd.containerdSocket, "--namespace", "moby", "content", "rm", p.digest]);
  const [task] = await docker.listContainers({ filters: { label: [`com.docker.swarm.service.name=${good}`] } });
  await docker.getContainer(task!.Id).kill();
  const fetched = await waitFor(`a new task to pull ${p.digest}`, async () => enginePulls(goodProxy, p.digest, from).find((r) => r.status !== undefined), UPDATE_MS);
  // An anonymous token grants nothing here, so a 200 means the task had alice's password.
  expect([fetched.status, String(fetched.headers.authorization).split(" ")[0]], goodProxy.lines().slice(from).join("\n")).toEqual([200, "Bearer"]);
  await waitFor(`a task to replace container ${task!.Id.slice(0, 12)}`, async () => {
    const tasks = await docker.listTasks({ filters: { service: [good], "desired-state": ["running"] } });
    return tasks.filter((t) => t.Status?.State === "running" && t.Status.ContainerStatus?.ContainerID !== task!.Id).length === 2;
  }, UPDATE_MS);
  await runsOnly(p);
}

beforeAll(async () => {
  scope = storyScope("swau-");
  dir = scope.dir();
  tokens = await startTokenServer({ users: { alice: PASSWORD } });
  registry = await startRegistry({ kind: "token", realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootcertbundle: tokens.certPath });
  goodProxy = await startCountingProxy(registry.host);
  wrongProxy = await startCountingProxy(registry.host);
  dockerd = await startPrivateDockerd("s23au");
  docker = dockerd.docker;
  // The dockerd pulls through the proxies and fetches its tokens from the realm, all on the host's loopback.
  for (const host of [goodProxy.host, wrongProxy.host, new URL(tokens.url).host]) await dockerd.reach(Number(host.split(":")[1]));
  await docker.swarmInit({ ListenAddr: "127.0.0.1:2377", AdvertiseAddr: "127.0.0.1" });
  v.v1 = await publish("v1");
  writeConfig(
    dir,
    `state: ${dir}/state.json
socket: ${dir}/agent.sock
docker: { socket: ${dockerd.socketPath}, timeout: 10s }
apps:${swarmStoryApp(good, imageVia(goodProxy), run, network)}${swarmStoryApp(wrong, imageVia(wrongProxy), run, network)}
registries:
  "${goodProxy.host}": { username: alice, passwordFile: ${secretFile("good-password", PASSWORD)} }
  "${wrongProxy.host}": { username: alice, passwordFile: ${secretFile("wrong-password", WRONG_PASSWORD)} }
`,
  );
}, 180_000);

afterAll(async () => {
  await agent?.stop("SIGKILL");
  await scope?.close();
  await closeSwarmDockerd(dockerd);
  for (const stop of [goodProxy?.stop, wrongProxy?.stop, registry?.stop, tokens?.stop]) await stop?.();
}, 120_000);

describe("a Swarm app whose image is in a registry with GHCR-style token auth", { timeout: 2 * UPDATE_MS }, () => {
  it("runs on a node that has no credentials of its own: an anonymous pull of the image is refused", async () => {
    const said = await anonymousPull(goodRef(v.v1!));
    expect(said).toMatch(/unauthorized|authentication required|denied/i);
    expect(tokens.requests.some((r) => r.user === undefined)).toBe(true);
    expect((await docker.listImages()).flatMap((i) => i.RepoDigests ?? [])).not.toContain(goodRef(v.v1!));
  });

  it("creates the service with the credentials from agent.yaml: both tasks run the first release, and a task started again pulls it with them", async () => {
    agent = scope.track(await startAgent(dir));
    const first = await settledDeployOf(good, v.v1!.digest);
    expect([first.outcome, first.trigger], JSON.stringify(first)).toEqual(["succeeded", "poll"]);
    expect(first.steps.map((s) => s.name)).toEqual(["resolve", "pull", "create", "start", "record"]);
    await runsOnly(v.v1!);
    // The pull step: the node fetched the release with a token it got with alice's password.
    expect(enginePulls(goodProxy, v.v1!.digest).some((r) => r.status === 200 && /^Bearer /.test(String(r.headers.authorization))), goodProxy.lines().join("\n")).toBe(true);
    await repullOneTask(v.v1!);
  });

  it("updates the service with them: both tasks run the new digest, and a task started again pulls it with them", async () => {
    v.v2 = await publish("v2");
    const update = await settledDeployOf(good, v.v2.digest);
    expect([update.outcome, update.trigger], JSON.stringify(update)).toEqual(["succeeded", "poll"]);
    await runsOnly(v.v2);
    expect((await docker.getService(good).inspect()).PreviousSpec?.TaskTemplate?.ContainerSpec?.Image).toBe(goodRef(v.v1!));
    await repullOneTask(v.v2);
  });

  it("fails the app with a wrong password at resolve, as REGISTRY_UNAUTHORIZED, and never writes its service", async () => {
    const polled = await waitFor(`a failed poll of ${wrong}`, async () => (await appStatus(agent, wrong)).lastPoll?.error, 30_000);
    expect(polled.code).toBe("REGISTRY_UNAUTHORIZED");
    const out = await agentctl(agent, ["deploy", wrong, "latest"]);
    expect(out.code, out.stdout + out.stderr).toBe(1);
    const [record] = await deployHistory(agent, wrong);
    // The record says which refused: the registry's token server, at resolve, before any pull.
    expect([record?.outcome, record?.error?.code, record?.steps.map((s) => s.name)], JSON.stringify(record)).toEqual(["failed", "REGISTRY_UNAUTHORIZED", ["resolve"]]);
    expect(record?.error?.message).toContain(`refused a token for repository:${repo}:pull (HTTP 401); tried as user "alice" (agent.yaml registries.${wrongProxy.host})`);
    expect(wrongProxy.requests.filter((r) => /^docker\//.test(String(r.headers["user-agent"])))).toEqual([]);
    expect((await docker.listServices()).map((s) => s.Spec?.Name)).toEqual([good]);
    expect(agent.lines.join("\n")).not.toContain(WRONG_PASSWORD);
    expect(agent.lines.join("\n")).not.toContain(PASSWORD);
  });
});
