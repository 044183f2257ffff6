// A `backend: swarm` app, driven by the real daemon and agentctl, on a real single-node swarm: a
// private dockerd of this file's own (test/support/private-dockerd.ts) made a Swarm manager, so
// swarm mode never reaches the Engine the other tests share. The tests run in order, each from the
// release the one before left: the refusal on an Engine that is no manager, the first deploy by
// polling, a CLI deploy with its tasks' progress and the pin, `agentctl rollback` as a new update,
// a release Swarm rolls back by itself (failed, skip-listed), an agent killed in the middle of an
// update, a service removed behind the agent's back, the move to containers and back, a role, and
// the release steps.
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StatusReport } from "../../agent/control/api.js";
import type { DeployRecord } from "../../agent/state/schema.js";
import { agentctl, appStatus, deployHistory, requestLoop, startAgent, swarmStoryApp, waitFor, writeConfig, type AgentProcess, type RequestLoop } from "../support/agent.js";
import { publishVersion, TEST_REGISTRY, testRunId, type PublishedImage } from "../support/images.js";
import { closeSwarmDockerd, startPrivateDockerd, type PrivateDockerd } from "../support/private-dockerd.js";
import { storyScope, type StoryScope } from "../support/story-scope.js";
import { startSwarmRoutingModel, type SwarmRoutingModel } from "../support/swarm-routing-model.js";

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
/** Traefik's Swarm provider and the service's virtual IP, modelled from the Engine's real services and tasks. */
let traefik: SwarmRoutingModel | undefined;
const host = `${app}.test`;

/**
 * Requests through the model while `body` runs and until every task behind the virtual IP runs
 * `release`: none may fail, and the last answers are `version`'s. On a failure the message
 * carries the model's history for the app's host.
 */
async function underLoad(release: PublishedImage, version: string, body: () => Promise<void>): Promise<void> {
  const loop: RequestLoop = requestLoop(traefik!.url, host);
  let result: Awaited<ReturnType<RequestLoop["stop"]>>;
  try {
    await body();
    await traefik!.waitForServing(host, release.digest, 20_000);
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    result = await loop.stop();
  }
  const said = `failed requests:\n${result.failed.map((f) => `${new Date(f.at).toISOString()} ${f.what}`).join("\n")}\n${traefik!.history(host)}`;
  expect(result.failed, said).toEqual([]);
  expect(result.ok).toBeGreaterThan(10);
  expect(result.bodies.at(-1)?.body.trim()).toBe(version);
}

/** The app's live release, pin and skip list as the daemon tells them (agentctl status --json). */
const appState = () => appStatus(agent, app);

/** The app's agent.yaml: a Swarm app, or (`container`) the same app on the container backend, routed on a bridge network of its own. */
function config(backend: "swarm" | "container" = "swarm", withRole = false, extra = ""): string {
  const role = withRole ? `\n    roles:\n      worker: { command: ["sh", "-c", "while true; do sleep 1; done"], health: { command: "true", startTimeout: 2s, interval: 500ms } }` : "";
  const network = backend === "swarm" ? `swn-${run}` : `swb-${run}`;
  return `state: ${dir}/state.json
socket: ${dir}/agent.sock
docker: { socket: ${dockerd.socketPath}, timeout: 10s }
apps:${swarmStoryApp(app, image, run, network, { backend, extra: `${role}${extra}` })}
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

/**
 * Looks at the Engine every 100 ms for what could serve the app: a healthy, running container of the
 * agent's, and a running task of the service. A gap is a look at which neither was there.
 */
function servingWatch(): { stop(): void; gaps(): string[]; overlapMs(since: number): number; timeline(): string } {
  const looks: { at: number; containers: number; tasks: number }[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const at = Date.now();
      const containers = await docker.listContainers({ filters: { label: [`deploy-agent.app=${app}`], health: ["healthy"] } }).catch(() => undefined);
      const tasks = await docker.listTasks({ filters: { service: [app], "desired-state": ["running"] } }).catch(() => []);
      if (containers) looks.push({ at, containers: containers.length, tasks: tasks.filter((t) => t.Status?.State === "running").length });
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const timeline = () => {
    const changes = looks.filter((l, i) => i === 0 || l.containers !== looks[i - 1]!.containers || l.tasks !== looks[i - 1]!.tasks);
    return changes.map((l) => `${new Date(l.at).toISOString()} containers ${l.containers}, tasks ${l.tasks}`).join("\n");
  };
  return {
    stop: () => {
      stopped = true;
      void loop;
    },
    gaps: () => looks.filter((l) => l.containers === 0 && l.tasks === 0).map((l) => new Date(l.at).toISOString()),
    // The longest run of looks at which both served: the move back to Swarm, its containers kept while Traefik lists the service.
    overlapMs: (since) => {
      let best = 0;
      let from: number | undefined;
      for (const l of looks.filter((x) => x.at >= since)) {
        if (l.containers > 0 && l.tasks > 0) {
          from ??= l.at;
          best = Math.max(best, l.at - from);
        } else from = undefined;
      }
      return best;
    },
    timeline,
  };
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
  dockerd = await startPrivateDockerd("swm");
  docker = dockerd.docker;
  dir = scope.dir();
  writeConfig(dir, config());
}, 180_000);

afterAll(async () => {
  await agent?.stop("SIGKILL");
  await traefik?.close();
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
    expect((await appState()).live).toMatchObject({ digest: v.v1.digest, version: "latest" });
    // Traefik's Swarm provider lists the service at its next refresh (every 15 s).
    traefik = await startSwarmRoutingModel({ docker });
    await traefik.waitForServing(host, v.v1.digest, 30_000);
    const s = await docker.getService(app).inspect();
    expect(s.Spec.Labels).toMatchObject({ "deploy-agent.managed": "true", "traefik.docker.lbswarm": "true", [`traefik.http.routers.${app}.rule`]: `Host(\`${app}.test\`)` });
    expect(s.Spec.UpdateConfig).toMatchObject({ Parallelism: 1, FailureAction: "rollback", Order: "start-first" });
    // Its tasks may run on any node: agentctl logs says where their output is.
    const logs = await agentctl(agent, ["logs", app]);
    expect([logs.code, logs.stderr]).toEqual([2, expect.stringContaining(`hint: docker service logs ${app}`)]);
  });

  it("agentctl deploy of a tag shows each task's progress live, runs it everywhere, and pins it", async () => {
    v.v2 = await publishVersion({ repo, tag: "v2", behaviour: "good", version: "v2" });
    let out = { code: null as number | null, stdout: "", stderr: "" };
    await underLoad(v.v2, "v2", async () => {
      out = await agentctl(agent, ["deploy", "v2"]);
    });
    expect(out.code, out.stdout + out.stderr).toBe(0);
    // Two new tasks start, run and are healthy; the two old ones are shut down.
    expect(out.stdout).toMatch(new RegExp(`${app} task \\d+: running \\(${v.v2.digest.slice(7, 19)}\\)`));
    expect(out.stdout).toMatch(new RegExp(`${app} task \\d+: shutdown \\(${v.v1!.digest.slice(7, 19)}\\)`));
    await runsOnly(v.v2);
    expect((await appState()).pin?.version).toBe("v2");
    // Pinned: a new tracked release is not deployed by the polls.
    v.v3 = await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v3" });
    const before = await lastId();
    const check = await agentctl(agent, ["check", app], { json: true });
    expect((check.json as { result: string }[])[0]?.result, check.stdout).toBe("paused");
    expect(await lastId()).toBe(before);
    expect((await serviceImages()).spec).toBe(`${v.v2.image}@${v.v2.digest}`);
  });

  it("agentctl status shows web's service at the live digest and its two running tasks, in text and in --json", async () => {
    const live = v.v2!;
    const short = live.digest.slice(0, 19);
    const text = await agentctl(agent, ["status"]);
    expect(text.code, text.stdout + text.stderr).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^ {4}${app} +web +${short} +2 +completed`, "m"));
    const running = text.stdout.split("\n").filter((l) => new RegExp(`^ {4}${app} +\\d+ +running +running +${short} +\\S+ +-$`).test(l));
    expect(running, text.stdout).toHaveLength(2);
    expect(text.stdout).not.toContain("containers  none");
    expect(text.stdout).toMatch(new RegExp(`live +v2 +${short} +as Swarm services +generation`));

    const json = await agentctl(agent, ["status"], { json: true });
    expect(json.code, json.stderr).toBe(0);
    const report = json.json as StatusReport;
    const [service, ...others] = report.apps[0]?.services ?? [];
    expect(others).toEqual([]);
    expect(report.apps[0]?.backend).toBe("swarm");
    expect(service).toMatchObject({ name: app, exists: true, digest: live.digest, replicas: 2, update: { state: "completed" } });
    const tasks = service!.tasks.filter((t) => t.desiredState === "running" && t.state === "running");
    expect(tasks.map((t) => [t.digest, typeof t.node, typeof t.nodeName]), JSON.stringify(service)).toEqual([
      [live.digest, "string", "string"],
      [live.digest, "string", "string"],
    ]);
    expect(new Set(tasks.map((t) => t.slot))).toEqual(new Set([1, 2]));
  });

  it("agentctl rollback deploys the release before as a new update, which sticks", async () => {
    let out = { code: null as number | null, stdout: "", stderr: "" };
    await underLoad(v.v1!, "v1", async () => {
      out = await agentctl(agent, ["rollback"]);
    });
    expect(out.code, out.stdout + out.stderr).toBe(0);
    await runsOnly(v.v1!);
    const [r] = await deployHistory(agent, app);
    expect([r?.trigger, r?.outcome, r?.digest]).toEqual(["rollback", "succeeded", v.v1!.digest]);
    const s = await appState();
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
    await traefik!.waitForServing(host, v.v3!.digest, 20_000);
    const before = await lastId();
    let failed: DeployRecord | undefined;
    // The old tasks serve throughout: Swarm starts the new task beside them and rolls it back.
    await underLoad(v.v3!, "v3", async () => {
      v.bad = await publishVersion({ repo, tag: "latest", behaviour: "never-healthy", version: "bad" });
      failed = await recordOf((await newestDeploy(before)).id);
    });
    if (!failed || !v.bad) throw new Error("no failed deploy");
    expect([failed.outcome, failed.digest, failed.error?.code], JSON.stringify(failed)).toEqual(["failed", v.bad.digest, "GREEN_UNHEALTHY"]);
    expect(failed.error?.message).toContain(`Swarm rolled service ${app} back to the release before`);
    await runsOnly(v.v3!);
    const s = await appState();
    expect(s.live?.digest).toBe(v.v3!.digest);
    const said = `state: ${JSON.stringify(s)}\nhistory: ${JSON.stringify(await deployHistory(agent, app))}`;
    expect(s.skip.map((e) => [e.digest, e.reason]), said).toContainEqual([v.bad.digest, "failed"]);
    // Skipped: a poll sees the digest and leaves it alone.
    const after = await lastId();
    const check = await agentctl(agent, ["check", app], { json: true });
    expect((check.json as { result: string; digest: string }[])[0], check.stdout).toMatchObject({ result: "skipped", digest: v.bad.digest });
    expect(await lastId()).toBe(after);
  });

  it("an agent killed in the middle of an update follows it to its end when it starts again", async () => {
    const before = await lastId();
    v.v4 = await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v4" });
    const v4 = v.v4;
    let cut: DeployRecord | undefined;
    await underLoad(v4, "v4", async () => {
      cut = await newestDeploy(before);
      const id = cut.id;
      await waitFor("the update to begin", async () => (await deployHistory(agent, app)).find((r) => r.id === id)?.steps.some((s) => s.name === "start"), UPDATE_MS);
      await agent.stop("SIGKILL");
      const midway = await docker.getService(app).inspect();
      expect(midway.Spec.TaskTemplate.ContainerSpec.Image).toBe(`${v4.image}@${v4.digest}`);
      agent = scope.track(await startAgent(dir));
    });
    if (!cut) throw new Error("no deploy was cut short");
    const done = await recordOf(cut.id);
    expect(done.outcome, JSON.stringify(done)).toBe("succeeded");
    await runsOnly(v.v4);
    expect((await appState()).live?.digest).toBe(v.v4.digest);
    expect(agent.lines.join("\n")).toContain(`deploy ${cut.id} was in step start when the agent stopped; Swarm went on with it, it was followed to its end, and it is live`);
  });

  it("a service removed behind the agent's back is made again from the live release at the next start", async () => {
    await agent.stop();
    await docker.getService(app).remove();
    agent = scope.track(await startAgent(dir));
    await runsOnly(v.v4!);
    expect(agent.lines.join("\n")).toContain(`service ${app} of the live release latest was missing; it was made again and runs`);
    expect((await appState()).live?.digest).toBe(v.v4!.digest);
  });
  it("moves to backend: container and back, with a release of the app running and healthy throughout", async () => {
    const watch = servingWatch();
    let back = Infinity;
    try {
      const before = await lastId();
      await agent.stop();
      writeConfig(dir, config("container"));
      agent = scope.track(await startAgent(dir));
      // Reconcile finds no container; the first poll deploys the tracked release as containers, then removes the service.
      const moved = await recordOf((await newestDeploy(before)).id);
      // Reconcile cleared live (no container ran it), so the release takes the first slot.
      expect([moved.outcome, moved.digest, moved.slot], JSON.stringify(moved)).toEqual(["succeeded", v.v4!.digest, "blue"]);
      expect(moved.steps.find((s) => s.name === "stop")?.detail).toContain(`the app moved to backend: container: removed its Swarm service ${app}`);
      expect(await docker.listServices({ filters: { name: [app] } })).toEqual([]);

      await agent.stop();
      back = Date.now();
      writeConfig(dir, config("swarm"));
      agent = scope.track(await startAgent(dir, { waitReady: false }));
      // Reconcile makes the service again from the live release, then removes the containers once Traefik's Swarm provider has listed it.
      await waitFor("the daemon to be ready", () => agent.lines.some((l) => l.includes('"deploy-agent ready"')), 120_000);
      await runsOnly(v.v4!);
      expect(await docker.listContainers({ all: true, filters: { label: [`deploy-agent.app=${app}`] } })).toEqual([]);
      const said = agent.lines.join("\n");
      expect(said).toContain(`service ${app} of the live release latest was missing; it was made again and runs; the app moved to backend: swarm: stopped and removed ${app}-blue 17s after its services ran`);
    } finally {
      watch.stop();
    }
    expect(watch.gaps(), watch.timeline()).toEqual([]);
    // The containers stayed for Traefik's Swarm provider to list the service: 15 s refresh and 2 s throttle.
    expect(watch.overlapMs(back), watch.timeline()).toBeGreaterThanOrEqual(17_000);
  });
  it("an app with a role: its service is made beside web's, moved with it, and put back with it when web's release fails", async () => {
    const worker = `${app}-worker`;
    const specOf = async (name: string) => (await docker.getService(name).inspect()).Spec.TaskTemplate.ContainerSpec.Image as string;
    await agent.stop();
    writeConfig(dir, config("swarm", true));
    agent = scope.track(await startAgent(dir, { waitReady: false }));
    await waitFor("the daemon to be ready", () => agent.lines.some((l) => l.includes('"deploy-agent ready"')), 120_000);
    // Reconcile made the role's service from the live release.
    expect(await specOf(worker)).toBe(`${v.v4!.image}@${v.v4!.digest}`);
    expect(agent.lines.join("\n")).toContain(`service ${worker} of the live release latest was missing; it was made again and runs`);

    const before = await lastId();
    const sick = await publishVersion({ repo, tag: "latest", behaviour: "never-healthy", version: "sick" });
    const failed = await recordOf((await newestDeploy(before)).id);
    expect([failed.outcome, failed.digest, failed.error?.code], JSON.stringify(failed)).toEqual(["failed", sick.digest, "GREEN_UNHEALTHY"]);
    // The worker's update completed, and was put back with web's.
    expect(await specOf(worker)).toBe(`${v.v4!.image}@${v.v4!.digest}`);
    await runsOnly(v.v4!);

    const next = await lastId();
    v.v5 = await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v5" });
    const moved = await recordOf((await newestDeploy(next)).id);
    expect(moved.outcome, JSON.stringify(moved)).toBe("succeeded");
    expect(moved.steps.find((s) => s.name === "create")?.detail).toContain(`updated service ${worker}, updated service ${app}`);
    expect(await specOf(worker)).toBe(`${v.v5.image}@${v.v5.digest}`);
    await runsOnly(v.v5);
  });
  it("runs the release steps: predeploy from the new release before any service changes, postdeploy after; a predeploy that fails changes nothing", async () => {
    // The one-off prints the release it runs from, and fails for a release named "v7-bad".
    const steps = `\n    predeploy: { command: ["sh", "-c", "v=$(cat /www/version); echo migrating to $v; test $v != v7-bad"] }\n    postdeploy: { command: ["sh", "-c", "echo warmed $(cat /www/version)"] }`;
    await agent.stop();
    writeConfig(dir, config("swarm", true, steps));
    agent = scope.track(await startAgent(dir, { waitReady: false }));
    await waitFor("the daemon to be ready", () => agent.lines.some((l) => l.includes('"deploy-agent ready"')), 120_000);

    const before = await lastId();
    v.v6 = await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v6" });
    const done = await recordOf((await newestDeploy(before)).id);
    expect(done.outcome, JSON.stringify(done)).toBe("succeeded");
    expect(done.steps.map((s) => s.name)).toEqual(["resolve", "pull", "predeploy", "create", "start", "postdeploy", "record"]);
    expect([done.hooks?.predeploy?.exitCode, done.hooks?.predeploy?.output.trim()]).toEqual([0, "migrating to v6"]);
    expect([done.hooks?.postdeploy?.exitCode, done.hooks?.postdeploy?.output.trim()]).toEqual([0, "warmed v6"]);
    await runsOnly(v.v6);

    const next = await lastId();
    const bad = await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v7-bad" });
    const failed = await recordOf((await newestDeploy(next)).id);
    expect([failed.outcome, failed.error?.code, failed.digest], JSON.stringify(failed)).toEqual(["failed", "PREDEPLOY_FAILED", bad.digest]);
    expect(failed.steps.map((s) => s.name)).toEqual(["resolve", "pull", "predeploy"]);
    expect((await appState()).skip.map((e) => [e.digest, e.reason])).toContainEqual([bad.digest, "failed"]);
    // No service was written: web's and the worker's still run v6, not updated since.
    const worker = await docker.getService(`${app}-worker`).inspect();
    expect(worker.Spec.TaskTemplate.ContainerSpec.Image).toBe(`${v.v6.image}@${v.v6.digest}`);
    await runsOnly(v.v6);
  });
});
