// A `backend: swarm` app, driven by the real daemon and agentctl, on a real single-node swarm: a
// private dockerd of this file's own (test/support/private-dockerd.ts) made a Swarm manager, so
// swarm mode never reaches the Engine the other tests share. The tests run in order, each from the
// release the one before left: the refusal on an Engine that is no manager, the first deploy by
// polling, a CLI deploy with its tasks' progress and the pin, `agentctl rollback` as a new update,
// a release Swarm rolls back by itself (failed, skip-listed), an agent killed in the middle of an
// update, and a service removed behind the agent's back.
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DeployRecord } from "../../agent/state/schema.js";
import { agentctl, deployHistory, readState, startAgent, swarmStoryApp, waitFor, writeConfig, type AgentProcess } from "../support/agent.js";
import { publishVersion, TEST_REGISTRY, testRunId, type PublishedImage } from "../support/images.js";
import { closeSwarmDockerd, startPrivateDockerd, type PrivateDockerd } from "../support/private-dockerd.js";
import { storyScope, type StoryScope } from "../support/story-scope.js";

const run = testRunId();
const app = `swa-${run}`;
const repo = `stories/${app}`;
const image = `${TEST_REGISTRY}/${repo}`;
/** Each update moves two tasks one at a time, each watched for its monitor (3 s start + 3 × 500 ms). */
const UPDATE_MS = 90_000;

let dockerd: PrivateDockerd;
let docker: Dockerode;
let scope: StoryScope;
let dir: string;
let agent: AgentProcess;

interface StateLike {
  apps: Record<string, { live?: { digest: string; version: string }; pin?: { version: string }; skip: { digest: string; reason: string }[] }>;
}
const appState = () => (readState(agent) as StateLike).apps[app]!;

function config(): string {
  return `state: ${dir}/state.json
socket: ${dir}/agent.sock
docker: { socket: ${dockerd.socketPath}, timeout: 10s }
apps:${swarmStoryApp(app, image, run, `swn-${run}`)}
`;
}

/** The image web's service is set to, and the images its running tasks run. */
async function serviceImages(): Promise<{ spec: string; running: string[] }> {
  const s = await docker.getService(app).inspect();
  const tasks = await docker.listTasks({ filters: { service: [app], "desired-state": ["running"] } });
  return {
    spec: s.Spec.TaskTemplate.ContainerSpec.Image as string,
    running: tasks.filter((t) => t.Status?.State === "running").map((t) => t.Spec?.ContainerSpec?.Image as string),
  };
}

async function runsOnly(p: PublishedImage): Promise<void> {
  const ref = `${p.image}@${p.digest}`;
  await waitFor(`both tasks to run ${p.tag}`, async () => {
    const s = await serviceImages();
    return s.spec === ref && s.running.length === 2 && s.running.every((i) => i === ref);
  }, UPDATE_MS);
}

async function recordOf(id: string): Promise<DeployRecord> {
  return waitFor(`deploy ${id} to end`, async () => (await deployHistory(agent, app)).find((r) => r.id === id && r.outcome !== "running"), UPDATE_MS);
}

async function newestDeploy(after: string | undefined): Promise<DeployRecord> {
  return waitFor("a new deploy", async () => (await deployHistory(agent, app)).find((r) => r.id !== after && Number(r.id) > Number(after ?? 0)), UPDATE_MS);
}

async function lastId(): Promise<string | undefined> {
  return (await deployHistory(agent, app))[0]?.id;
}

beforeAll(async () => {
  scope = storyScope("swa-");
  dockerd = await startPrivateDockerd("swa");
  docker = dockerd.docker;
  dir = scope.dir();
  writeConfig(dir, config());
}, 180_000);

afterAll(async () => {
  await agent?.stop("SIGKILL");
  await scope?.close();
  await closeSwarmDockerd(dockerd);
}, 120_000);

describe("a Swarm app on a single-node swarm", { timeout: 4 * UPDATE_MS }, () => {
  const v: Record<string, PublishedImage> = {};

  it("is refused at start on an Engine that is not a Swarm manager: exit 78, naming the app and the fix", async () => {
    const refused = await startAgent(dir, { waitReady: false });
    expect(await refused.exited).toBe(78);
    const said = refused.lines.join("\n");
    expect(said).toContain(`app ${app} has backend: swarm, but this Docker Engine is not a Swarm manager: it is not part of a swarm`);
    expect(said).toContain("docker swarm init");
    await docker.swarmInit({ ListenAddr: "127.0.0.1:2377", AdvertiseAddr: "127.0.0.1" });
  });

  it("deploys the tracked tag by polling: web's service runs it on both tasks, recorded live", async () => {
    v.v1 = await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v1" });
    agent = scope.track(await startAgent(dir));
    const first = await recordOf((await newestDeploy(undefined)).id);
    expect([first.outcome, first.trigger, first.digest], JSON.stringify(first)).toEqual(["succeeded", "poll", v.v1.digest]);
    expect(first.steps.map((s) => s.name)).toEqual(["resolve", "pull", "create", "start", "record"]);
    expect(first.slot).toBeUndefined();
    await runsOnly(v.v1);
    expect(appState().live).toMatchObject({ digest: v.v1.digest, version: "latest" });
    const s = await docker.getService(app).inspect();
    expect(s.Spec.Labels).toMatchObject({ "deploy-agent.managed": "true", "traefik.docker.lbswarm": "true", [`traefik.http.routers.${app}.rule`]: `Host(\`${app}.test\`)` });
    expect(s.Spec.UpdateConfig).toMatchObject({ Parallelism: 1, FailureAction: "rollback", Order: "start-first" });
  });

  it("agentctl deploy of a tag shows each task's progress live, runs it everywhere, and pins it", async () => {
    v.v2 = await publishVersion({ repo, tag: "v2", behaviour: "good", version: "v2" });
    const out = await agentctl(agent, ["deploy", "v2"]);
    expect(out.code, out.stdout + out.stderr).toBe(0);
    // Two new tasks start, run and are healthy; the two old ones are shut down.
    expect(out.stdout).toMatch(new RegExp(`${app} task \\d+: running \\(${v.v2.digest.slice(7, 19)}\\)`));
    expect(out.stdout).toMatch(new RegExp(`${app} task \\d+: shutdown \\(${v.v1!.digest.slice(7, 19)}\\)`));
    await runsOnly(v.v2);
    expect(appState().pin?.version).toBe("v2");
    // Pinned: a new tracked release is not deployed by the polls.
    v.v3 = await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v3" });
    const before = await lastId();
    await new Promise((r) => setTimeout(r, 6000));
    expect(await lastId()).toBe(before);
    expect((await serviceImages()).spec).toBe(`${v.v2.image}@${v.v2.digest}`);
  });

  it("agentctl rollback deploys the release before as a new update, which sticks", async () => {
    const out = await agentctl(agent, ["rollback"]);
    expect(out.code, out.stdout + out.stderr).toBe(0);
    await runsOnly(v.v1!);
    const [r] = await deployHistory(agent, app);
    expect([r?.trigger, r?.outcome, r?.digest]).toEqual(["rollback", "succeeded", v.v1!.digest]);
    const s = appState();
    expect(s.live?.digest).toBe(v.v1!.digest);
    expect(s.pin?.version).toBe("latest");
    expect(s.skip.map((e) => [e.digest, e.reason])).toContainEqual([v.v2!.digest, "rolled-back"]);
    // A new update, not Swarm's one-step rollback: the service's spec before is v2's.
    const svc = await docker.getService(app).inspect();
    expect(svc.PreviousSpec?.TaskTemplate?.ContainerSpec?.Image).toBe(`${v.v2!.image}@${v.v2!.digest}`);
  });

  it("a release that never turns healthy: Swarm rolls it back, the deploy is failed and its digest skipped, the old tasks serve throughout", async () => {
    const resumed = await agentctl(agent, ["resume"]);
    expect(resumed.code, resumed.stderr).toBe(0);
    // The polls deploy the tracked v3 again, now unpinned.
    await runsOnly(v.v3!);
    const before = await lastId();
    v.bad = await publishVersion({ repo, tag: "latest", behaviour: "never-healthy", version: "bad" });
    const failed = await recordOf((await newestDeploy(before)).id);
    expect([failed.outcome, failed.digest, failed.error?.code], JSON.stringify(failed)).toEqual(["failed", v.bad.digest, "GREEN_UNHEALTHY"]);
    expect(failed.error?.message).toContain(`Swarm rolled service ${app} back to the release before`);
    await runsOnly(v.v3!);
    const s = appState();
    expect(s.live?.digest).toBe(v.v3!.digest);
    expect(s.skip.map((e) => [e.digest, e.reason])).toContainEqual([v.bad.digest, "failed"]);
    // Skipped: the polls leave it alone.
    const after = await lastId();
    await new Promise((r) => setTimeout(r, 5000));
    expect(await lastId()).toBe(after);
  });

  it("an agent killed in the middle of an update follows it to its end when it starts again", async () => {
    const before = await lastId();
    v.v4 = await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v4" });
    const cut = await newestDeploy(before);
    await waitFor("the update to begin", async () => (await deployHistory(agent, app)).find((r) => r.id === cut.id)?.steps.some((s) => s.name === "start"), UPDATE_MS);
    await agent.stop("SIGKILL");
    const midway = await docker.getService(app).inspect();
    expect(midway.Spec.TaskTemplate.ContainerSpec.Image).toBe(`${v.v4.image}@${v.v4.digest}`);
    agent = scope.track(await startAgent(dir));
    const done = await recordOf(cut.id);
    expect(done.outcome, JSON.stringify(done)).toBe("succeeded");
    await runsOnly(v.v4);
    expect(appState().live?.digest).toBe(v.v4.digest);
    expect(agent.lines.join("\n")).toContain(`deploy ${cut.id} was in step start when the agent stopped; Swarm went on with it, it was followed to its end, and it is live`);
  });

  it("a service removed behind the agent's back is made again from the live release at the next start", async () => {
    await agent.stop();
    await docker.getService(app).remove();
    agent = scope.track(await startAgent(dir));
    await runsOnly(v.v4!);
    expect(agent.lines.join("\n")).toContain(`service ${app} of the live release latest was missing; it was made again and runs`);
    expect(appState().live?.digest).toBe(v.v4!.digest);
  });
});
