// Roles (docs/design.md#roles): an app's web and its worker move together, one digest for every
// role, on the real Engine and registry, with the routing model in front. The cells run at once,
// one app each, on one daemon: a pair that deploys (and a role without a health check, which
// counts after 10 s of running), releases whose worker never turns healthy or whose role exits,
// an `overlap: false` worker followed through the Engine's events, then rolled back, and a watch
// after the switch that rolls web and its worker back together.
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, it } from "vitest";
import { agentctl, agentYaml, appStatus, deployHistory, deploysSaid, requestLoop, settledDeploy, startAgent, storyApp, waitFor, writeConfig, type AgentProcess } from "../support/agent.js";
import { exitRelease, faultyRelease } from "../support/container-faults.js";
import { expectOneServing } from "../support/end-state.js";
import { publishVariant } from "../support/image-variant.js";
import { publishVersion, testRunId } from "../support/images.js";
import { followRole } from "../support/role-events.js";
import { storyScope } from "../support/story-scope.js";
import { startTraefikModel, type TraefikModel } from "../support/traefik-model.js";

const run = testRunId();
const docker = new Dockerode();
const scope = storyScope("rl-");
const app = { pair: `rl-pair-${run}`, fails: `rl-fail-${run}`, solo: `rl-solo-${run}`, watch: `rl-watch-${run}`, late: `rl-late-${run}` };
const repo = (a: string) => `stories/${a}`;

/** A worker that marks itself alive; a variant "exit" build of the image exits after 2 s instead. */
const WORKER = `["sh", "-c", "if [ \\"$VARIANT\\" = exit ]; then sleep 2; exit 3; fi; if [ \\"$VARIANT\\" = late ]; then mkdir -p /tmp; touch /tmp/worker-alive; sleep 8; exit 4; fi; mkdir -p /tmp; touch /tmp/worker-alive; while true; do sleep 1; done"]`;
const ALIVE = `{ command: "test -f /tmp/worker-alive", startTimeout: 10s, interval: 2s }`;
/** Healthy unless the image is the variant "sick". */
const SICK_UNLESS_GOOD = `{ command: "test -f /tmp/worker-alive && [ \\"$VARIANT\\" != sick ]", startTimeout: 4s, interval: 2s }`;

const roles: Record<string, string> = {
  [app.pair]: `
      worker: { command: ${WORKER}, health: ${ALIVE}, env: { QUEUE: default } }
      idle: { command: ${WORKER} }`,
  [app.fails]: `
      worker: { command: ${WORKER}, health: ${SICK_UNLESS_GOOD} }
      idle: { command: ${WORKER}, overlap: false }`,
  [app.solo]: `
      worker: { command: ${WORKER}, health: ${ALIVE}, overlap: false }`,
  [app.watch]: `
      worker: { command: ${WORKER}, health: ${ALIVE} }`,
  [app.late]: `
      worker: { command: ${WORKER}, health: ${ALIVE} }`,
};
const watchKey: Record<string, string> = { [app.watch]: "\n    watch: 60s" };

// settle 3s: the routing model, like Traefik, applies a change up to its 2 s throttle late.
// Health checks every 2 s, not the agent's 1 s: the five apps run some twenty checked containers
// during their deploys, and each probe is an exec in the Engine; at 1 s they kept both cores busy.
let agent: AgentProcess;
let traefik: TraefikModel;
const v1: Record<string, string> = {};

/** The app's containers on the Engine: name, state and the labels that say release and role. */
async function containersOf(a: string): Promise<{ name: string; state: string; digest: string; role: string; traefik: string }[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`deploy-agent.app=${a}`] } });
  return list
    .map((c) => ({ name: c.Names[0]!.slice(1), state: c.State, digest: c.Labels["deploy-agent.digest"] ?? "", role: c.Labels["deploy-agent.role"] ?? "web", traefik: c.Labels["traefik.enable"] ?? "" }))
    .sort((x, y) => x.name.localeCompare(y.name));
}

/** What the live watch said of the app's live containers being down ("… is not running: it exited …"). */
function liveWarnings(a: string): string[] {
  return agent.lines.filter((l) => l.includes(`"app":"${a}"`) && l.includes("the agent does not restart it"));
}

beforeAll(async () => {
  const dir = scope.dir();
  writeConfig(dir, agentYaml(dir, ...Object.values(app).map((a) => `${storyApp(a, `127.0.0.1:5000/${repo(a)}`, run, { settle: "3s", healthInterval: "2s", ...(a === app.late ? { drain: "20s" } : {}) })}${watchKey[a] ?? ""}\n    env: { QUEUE: main, APP: ${a} }\n    roles:${roles[a]}`)));
  traefik = await startTraefikModel({ docker });
  for (const a of Object.values(app)) {
    await publishVersion({ repo: repo(a), tag: "v1", behaviour: "good", version: "v1" });
    v1[a] = (await publishVersion({ repo: repo(a), tag: "latest", behaviour: "good", version: "v1" })).digest;
  }
  agent = scope.track(await startAgent(dir));
  for (const a of Object.values(app)) {
    await waitFor(`${a} to serve v1`, async () => traefik.servingContainer(`${a}.test`) !== undefined && (await appStatus(agent, a)).live?.digest === v1[a], 120_000, 200, () => deploysSaid(agent, a));
  }
}, 240_000);

afterAll(async () => {
  await traefik?.close();
  await scope.close();
});

describe.concurrent("an app with roles", () => {
  it("deploys web and every role onto the new digest in one deploy, removes every old container, serves without a failed request, and lists the roles in status", async ({ expect }) => {
    const a = app.pair;
    const loop = requestLoop(traefik.url, `${a}.test`);
    const v2 = await publishVariant({ repo: repo(a), fromTag: "v1", tags: ["latest"], variant: "pair-v2" });
    await waitFor(`${a} to deploy v2`, async () => (await appStatus(agent, a)).live?.digest === v2, 120_000, 200, () => deploysSaid(agent, a));
    const record = await settledDeploy(agent, a);
    expect(record).toMatchObject({ outcome: "succeeded", digest: v2 });
    // The steps' details name the roles; the one without a health check ran its 10 s.
    const detail = (name: string) => record.steps.find((s) => s.name === name)?.detail ?? "";
    expect(detail("create")).toContain(`${a}-worker-`);
    expect(detail("start")).toMatch(/worker healthy.*idle ran 10s|idle ran 10s.*worker healthy/);
    expect(detail("stop")).toMatch(new RegExp(`removed ${a}-(worker|idle)-`));
    const live = (await appStatus(agent, a)).live!;
    const cs = await containersOf(a);
    expect(cs.map((c) => [c.name, c.state, c.digest, c.role])).toEqual([
      [`${a}-${live.slot}`, "running", v2, "web"],
      [`${a}-idle-${live.slot}`, "running", v2, "idle"],
      [`${a}-worker-${live.slot}`, "running", v2, "worker"],
    ]);
    expect(cs.filter((c) => c.role !== "web").map((c) => c.traefik)).toEqual(["false", "false"]);
    // The role's env is merged over the app's.
    const env = (await docker.getContainer(`${a}-worker-${live.slot}`).inspect()).Config.Env;
    expect(env).toEqual(expect.arrayContaining(["QUEUE=default", `APP=${a}`]));
    const policy = (await docker.getContainer(`${a}-worker-${live.slot}`).inspect()).HostConfig.RestartPolicy?.Name;
    expect(policy).toBe("unless-stopped");
    await expectOneServing(agent, a, traefik.url, docker);
    const seen = await loop.stop();
    expect(seen.ok).toBeGreaterThan(0);
    expect(seen.failed, traefik.history(`${a}.test`)).toEqual([]);

    const status = await appStatus(agent, a);
    expect(status.containers.map((c) => c.name)).toEqual([`${a}-${live.slot}`]);
    expect(status.roles?.map((r) => [r.role, r.name, r.state]).sort()).toEqual([
      ["idle", `${a}-idle-${live.slot}`, "running"],
      ["worker", `${a}-worker-${live.slot}`, "running"],
    ]);
    const text = await agentctl(agent, ["status", a]);
    expect(text.stdout).toMatch(/\n {2}roles\n {4}ROLE +NAME +SLOT +STATE +HEALTH/);
    expect(text.stdout).toMatch(new RegExp(`\\n {4}worker +${a}-worker-${live.slot} +${live.slot} +running +healthy `));
    expect(text.stdout).toMatch(new RegExp(`\\n {4}idle +${a}-idle-${live.slot} +${live.slot} +running +none `));
  }, 180_000);

  it("fails the whole deploy when a worker never turns healthy, and when a role without a health check exits within 10 s: every new container is removed, web and every role keep running the old release (an overlap: false one started again), and the digest is skipped", async ({ expect }) => {
    const a = app.fails;
    const before = await containersOf(a);
    expect(before.map((c) => [c.role, c.state, c.digest])).toEqual([
      ["web", "running", v1[a]],
      ["idle", "running", v1[a]],
      ["worker", "running", v1[a]],
    ]);
    const loop = requestLoop(traefik.url, `${a}.test`);
    const cases = [
      { variant: "sick", code: "GREEN_UNHEALTHY", message: new RegExp(`${a}-worker-(blue|green) not healthy after 4s`) },
      { variant: "exit", code: "GREEN_EXITED", message: new RegExp(`${a}-(worker|idle)-(blue|green) exited .*exit code 3`) },
    ];
    for (const c of cases) {
      const bad = await publishVariant({ repo: repo(a), fromTag: "v1", tags: ["latest"], variant: c.variant });
      await waitFor(`${a} to fail deploying the ${c.variant} release`, async () => (await appStatus(agent, a)).skip.some((s) => s.digest === bad) || undefined, 120_000, 200, () => deploysSaid(agent, a));
      const record = await settledDeploy(agent, a);
      expect(record, c.variant).toMatchObject({ outcome: "failed", digest: bad, error: { code: c.code } });
      expect(record.error?.message).toMatch(c.message);
      expect(record.steps.at(-1)?.name).toBe("start");
      expect(await containersOf(a), c.variant).toEqual(before);
      // The overlap: false role's old container was stopped for the new one, and started again by the undo.
      const idle = await docker.getContainer(before[1]!.name).inspect();
      expect(Date.parse(idle.State.StartedAt), c.variant).toBeGreaterThan(Date.parse(record.startedAt));
    }
    const seen = await loop.stop();
    expect(seen.ok).toBeGreaterThan(0);
    expect(seen.failed, traefik.history(`${a}.test`)).toEqual([]);
    // The deploys stopped the old idle on purpose: the live watch took neither stop for a crash.
    expect(liveWarnings(a)).toEqual([]);
  }, 180_000);

  it("fails the whole deploy when a worker exits after it passed, while web's new container is routed: every new container is removed and the old release serves", async ({ expect }) => {
    const a = app.late;
    const before = await containersOf(a);
    const loop = requestLoop(traefik.url, `${a}.test`);
    const bad = await publishVariant({ repo: repo(a), fromTag: "v1", tags: ["latest"], variant: "late" });
    await waitFor(`${a} to fail deploying the late-exiting release`, async () => (await appStatus(agent, a)).skip.some((s) => s.digest === bad) || undefined, 120_000, 200, () => deploysSaid(agent, a));
    const record = await settledDeploy(agent, a);
    expect(record).toMatchObject({ outcome: "failed", digest: bad, error: { code: "GREEN_EXITED" } });
    expect(record.error?.message).toMatch(new RegExp(`${a}-worker-(blue|green) exited`));
    expect(["confirm", "drain"]).toContain(record.steps.at(-1)?.name);
    expect(await containersOf(a)).toEqual(before);
    await expectOneServing(agent, a, traefik.url, docker);
    // Web's new container passed to the end, so it left routing only as it stopped: the requests the
    // routing model sent it until its reload failed (docs/design.md#roles). None failed before it
    // was routed, nor once the undo ended and the model reloaded (settle).
    const seen = await loop.stop();
    expect(seen.ok).toBeGreaterThan(0);
    const routedAt = Date.parse(record.steps.find((st) => st.name === "confirm")!.startedAt);
    const undoneAt = Date.parse(record.endedAt!) + 3_000;
    expect(seen.failed.filter((f) => f.at < routedAt || f.at > undoneAt)).toEqual([]);
  }, 180_000);

  it("never runs two containers of an overlap: false worker at once, through a deploy and a rollback, and the rollback moves the worker back too", async ({ expect }) => {
    const a = app.solo;
    const follow = await followRole(docker, a, "worker");
    try {
      const v2 = await publishVariant({ repo: repo(a), fromTag: "v1", tags: ["latest"], variant: "solo-v2" });
      await waitFor(`${a} to deploy v2`, async () => (await appStatus(agent, a)).live?.digest === v2, 120_000, 200, () => deploysSaid(agent, a));
      expect(await settledDeploy(agent, a)).toMatchObject({ outcome: "succeeded", digest: v2 });
      const rb = await agentctl(agent, ["rollback", a]);
      expect(rb.code, rb.stdout + rb.stderr).toBe(0);
      const cs = await containersOf(a);
      expect(cs.map((c) => [c.role, c.state, c.digest])).toEqual([
        ["web", "running", v1[a]],
        ["worker", "running", v1[a]],
      ]);
      // The old worker died before the new one started, at the deploy and at the rollback.
      const events = follow.seen();
      const said = `${events.join(", ")}\n${await deploysSaid(agent, a)}`;
      expect(events.filter((e) => e.startsWith("start")).length, said).toBe(2);
      expect(follow.maxAtOnce(), said).toBe(1);
      expect(liveWarnings(a)).toEqual([]);
    } finally {
      follow.stop();
    }
  }, 180_000);

  it("keeps every role's previous container stopped with web's during the watch, and moves them back with web when the watch rolls back", async ({ expect }) => {
    const a = app.watch;
    const v2 = await faultyRelease(repo(a), "v1", ["latest"], "watch-v2");
    const open = await waitFor(`the watch after the deploy of ${a} v2`, async () => {
      const st = await appStatus(agent, a);
      return st.live?.digest === v2 && st.watch ? st : undefined;
    }, 120_000);
    const green = open.live!.slot;
    const blue = green === "blue" ? "green" : "blue";
    expect((await containersOf(a)).map((c) => [c.name, c.state, c.digest])).toEqual([
      [`${a}-blue`, blue === "blue" ? "exited" : "running", blue === "blue" ? v1[a] : v2],
      [`${a}-green`, blue === "green" ? "exited" : "running", blue === "green" ? v1[a] : v2],
      [`${a}-worker-blue`, blue === "blue" ? "exited" : "running", blue === "blue" ? v1[a] : v2],
      [`${a}-worker-green`, blue === "green" ? "exited" : "running", blue === "green" ? v1[a] : v2],
    ]);
    await exitRelease(docker, `${a}-${green}`);
    await waitFor(`the watch of ${a} to roll back`, async () => ((await appStatus(agent, a)).live?.digest === v1[a] ? true : undefined), 120_000);
    expect((await deployHistory(agent, a))[0]).toMatchObject({ digest: v2, outcome: "rolled-back" });
    const after = await waitFor(`${a}'s worker to be back on v1`, async () => {
      const cs = await containersOf(a);
      return cs.length === 2 && cs.every((c) => c.state === "running") ? cs : undefined;
    }, 60_000);
    expect(after.map((c) => [c.name, c.digest])).toEqual([
      [`${a}-${blue}`, v1[a]],
      [`${a}-worker-${blue}`, v1[a]],
    ]);
    // Said once: web's new container that exited; not the worker the rollback stopped.
    expect(liveWarnings(a).map((l) => (JSON.parse(l) as { container: string }).container)).toEqual([`${a}-${green}`]);
  }, 180_000);
});
