// The watch after the switch (config `watch`): the previous release is kept, stopped, while the
// new one is watched. A new release that turns unhealthy during the watch is rolled back by the
// agent itself, with no failed request outside the window between its failure and the previous
// release serving again (routing model and a request loop). A rollback during the watch ends it
// first; the end of the watch removes the kept release; a `kill -9` during the watch, and one
// during the automatic rollback, end after restart with exactly one slot serving and a true state.
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentctl, agentYaml, appStatus, deployHistory, loggedLines, readState, requestLoop, startAgent, storyApp, waitFor, writeConfig, type AgentProcess } from "../support/agent.js";
import { exitRelease, failHealth, FAULTY_EXIT_STATUS, faultyRelease, nextEvent } from "../support/container-faults.js";
import { expectOneServing } from "../support/end-state.js";
import { publishVersion, testRunId } from "../support/images.js";
import { startNotifyReceiver, type NotifyReceiver } from "../support/notify-receiver.js";
import { storyScope } from "../support/story-scope.js";
import { startTraefikModel, type TraefikModel } from "../support/traefik-model.js";

const run = testRunId();
const app = `n9w-${run}`;
const repo = `stories/${app}`;
const host = `${app}.test`;
const docker = new Dockerode();
const scope = storyScope("n9w-");
const WATCH = "10s";

let dir: string;
let agent: AgentProcess;
let traefik: TraefikModel;
let v1: string;
let hook: NotifyReceiver;

function isRolledBack(json: unknown, deployId: string): boolean {
  const j = json as { event?: string; deployId?: string } | undefined;
  return j?.event === "rolled-back" && j.deployId === deployId;
}

/** The `rolled-back` events the receiver got for one deploy. */
function rolledBack(deployId: string): Record<string, unknown>[] {
  return hook.received.filter((r) => isRolledBack(r.json, deployId)).map((r) => r.json as Record<string, unknown>);
}

/** The Engine's state of one of the app's containers by name ("running", "exited"), or undefined when it is gone. */
async function containerState(name: string): Promise<string | undefined> {
  const found = await docker.listContainers({ all: true, filters: { name: [`^/${name}$`] } });
  return found[0]?.State;
}

/** Publishes a faulty copy of v1 under `latest` and waits until the poll deployed it: the watch is open. */
async function deployWatched(variant: string): Promise<{ digest: string; green: string; blue: string; deployId: string; previous: string }> {
  const before = (await appStatus(agent, app)).live!;
  const digest = await faultyRelease(repo, "v1", ["latest"], variant);
  const s = await waitFor(`the watch after the deploy of ${variant}`, async () => {
    const st = await appStatus(agent, app);
    return st.live?.digest === digest && st.watch ? st : undefined;
  }, 60_000, 200);
  return { digest, green: `${app}-${s.live!.slot}`, blue: `${app}-${before.slot}`, deployId: s.watch!.deployId, previous: before.digest };
}

/** The app's containers on the Engine and what the daemon logged about the watch since line `from`, for a failure's message. */
async function appContainersSaid(from: number): Promise<string> {
  const all = await docker.listContainers({ all: true, filters: { name: [app] } });
  const containers = all.map((c) => `${c.Names[0]} ${c.Id.slice(0, 12)} ${c.State}`).join("; ");
  const said = agent.lines.slice(from).filter((l) => l.includes("watch") || l.includes("previous release")).join("\n");
  return `containers: ${containers}\nthe daemon said:\n${said}`;
}

async function restart(): Promise<void> {
  agent = scope.track(await startAgent(dir));
}

beforeAll(async () => {
  dir = scope.dir();
  hook = await startNotifyReceiver();
  const yaml = agentYaml(dir, `${storyApp(app, `127.0.0.1:5000/${repo}`, run, { healthInterval: "2s" })}\n    watch: ${WATCH}`);
  writeConfig(dir, yaml.replace("\napps:", `\nnotify:\n  - url: ${hook.url}/hook\n    events: [rolled-back]\napps:`));
  traefik = await startTraefikModel({ docker });
  v1 = (await publishVersion({ repo, tag: "v1", behaviour: "good", version: "v1" })).digest;
  await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v1" });
  agent = scope.track(await startAgent(dir));
  const live = await waitFor(`${app} to be live`, async () => (await appStatus(agent, app)).live, 60_000);
  await traefik.waitForServing(host, `${app}-${live.slot}`, 30_000);
}, 120_000);

afterAll(async () => {
  await hook?.close();
  await traefik?.close();
  await scope.close();
});

describe("the watch after the switch", () => {
  it("keeps the previous release stopped while status shows watching until, and rolls back by itself when the new release turns unhealthy: the previous release serves again, the record says rolled-back, the digest is skipped, and no request fails outside the failure's window", async () => {
    const { digest, green, blue, deployId } = await deployWatched("unhealthy");
    expect((await deployHistory(agent, app))[0]).toMatchObject({ id: deployId, outcome: "succeeded", digest });
    expect(await containerState(blue)).toBe("exited");
    const text = await agentctl(agent, ["status", app]);
    expect(text.stdout).toMatch(/watch +watching until /);
    await traefik.waitForServing(host, green, 10_000);

    const loop = requestLoop(traefik.url, host);
    const watching = new AbortController();
    const unhealthy = nextEvent(docker, green, "health_status", watching.signal);
    const reserveStarted = nextEvent(docker, blue, "start", watching.signal);
    await failHealth(docker, green);
    const failedAt = await unhealthy;
    // The first failed health check started the kept release in reserve, before Docker called
    // the new release unhealthy (after 3 of them, 2 s apart), so the gap with nothing routed is short.
    expect(await reserveStarted).toBeLessThan(failedAt);
    const blueBackAt = await waitFor("the routing model to send requests to the previous release", () => (traefik.servingContainer(host) === blue ? Date.now() : undefined), 60_000, 20);
    const record = await waitFor("the record to say rolled-back", async () => (await deployHistory(agent, app)).find((h) => h.id === deployId && h.outcome === "rolled-back"), 60_000);
    await new Promise((r) => setTimeout(r, 500));
    const seen = await loop.stop();
    watching.abort();

    expect(record.error).toMatchObject({ code: "WATCH_FAILED", message: expect.stringContaining("turned unhealthy") });
    // The reserve was started by the failed check, not by the rollback after it.
    expect(loggedLines(agent, "a health check of the new release failed during the watch; the previous release is started in reserve", app).map((l) => l.deployId)).toContain(deployId);
    const after = await appStatus(agent, app);
    expect(after.live).toMatchObject({ digest: v1, slot: blue.endsWith("blue") ? "blue" : "green" });
    expect(after.watch).toBeUndefined();
    expect(after.pin).toBeUndefined();
    expect(after.skip.find((e) => e.digest === digest)).toMatchObject({ reason: "failed", deployId });
    expect(after.releases.map((r) => r.digest)).not.toContain(digest);
    expect((await expectOneServing(agent, app, traefik.url, docker)).running).toBe(blue);

    // Green served until its failure; the previous release serves from blueBackAt on.
    const why = JSON.stringify({ failedAt, blueBackAt, failed: seen.failed.slice(0, 20) });
    expect(seen.ok).toBeGreaterThan(0);
    expect(seen.failed.filter((f) => f.at < failedAt || f.at > blueBackAt), why).toEqual([]);
    expect(seen.bodies.filter((b) => b.at > blueBackAt).length).toBeGreaterThan(0);

    await hook.waitFor((r) => isRolledBack(r.json, deployId), 10_000);
    expect(rolledBack(deployId)).toEqual([
      expect.objectContaining({ app, trigger: "watch", outcome: "rolled-back", reason: expect.stringContaining("turned unhealthy"), release: expect.objectContaining({ digest }), previous: expect.objectContaining({ digest: v1 }) }),
    ]);
  }, 90_000);

  it("ends the watch first when a poll finds a new release during it, and again when a rollback comes during the next one; the kept release is removed when the watch ends, with no failed request", async () => {
    const first = await deployWatched("ended-by-a-poll");
    const kept = (await docker.getContainer(first.blue).inspect()).Id;
    const loop = requestLoop(traefik.url, host);
    let from = agent.lines.length;
    // The poll's deploy of a new digest ends the open watch before it takes the kept release's slot.
    const second = await deployWatched("rolled-back-by-hand");
    const endedBy = (trigger: string) => agent.lines.slice(from).some((l) => l.includes("the watch after the switch ended: a deploy of") && l.includes(`(${trigger}) began`));
    expect(endedBy("poll")).toBe(true);
    // The kept release went; the new release took its slot's name.
    const keptGone = async () => (await docker.listContainers({ all: true, filters: { id: [kept] } })).length === 0;
    await waitFor(`the kept release ${kept.slice(0, 12)} to be removed`, keptGone, 10_000, 200, async () => appContainersSaid(from));
    expect(await keptGone()).toBe(true);
    expect(await containerState(first.green)).toBe("exited");

    from = agent.lines.length;
    const r = await agentctl(agent, ["rollback", app]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(endedBy("rollback")).toBe(true);
    const st = await appStatus(agent, app);
    expect(st.live?.digest).toBe(first.digest);
    expect(st.skip.find((e) => e.digest === second.digest)?.reason).toBe("rolled-back");
    // The rollback deploy opened a watch of its own; at its end the kept release goes.
    expect(st.watch).toBeDefined();
    await waitFor("the watch to end", async () => (await appStatus(agent, app)).watch === undefined, 30_000, 300);
    const end = await expectOneServing(agent, app, traefik.url, docker);
    expect(end.running).toBe(`${app}-${st.live!.slot}`);
    expect((await loop.stop()).failed, traefik.history(host)).toEqual([]);
    expect((await agentctl(agent, ["resume", app])).code).toBe(0);
  }, 90_000);

  it("resumes the watch from the state file after a kill -9, and after its end exactly one slot serves", async () => {
    const { green, blue, deployId } = await deployWatched("killed-during-watch");
    const loop = requestLoop(traefik.url, host);
    await agent.stop("SIGKILL");
    await restart();
    expect(agent.lines.some((l) => l.includes(`the watch after deploy ${deployId} resumes for`))).toBe(true);
    expect((await appStatus(agent, app)).watch?.deployId).toBe(deployId);
    expect(await containerState(blue)).toBe("exited");
    await waitFor("the resumed watch to end", async () => (await appStatus(agent, app)).watch === undefined, 30_000, 300);
    expect((await expectOneServing(agent, app, traefik.url, docker)).running).toBe(green);
    expect((await loop.stop()).failed, traefik.history(host)).toEqual([]);
  }, 90_000);

  it("finishes an automatic rollback cut off by a kill -9 after the previous release was started, when the new release exited during the watch: after restart exactly one slot serves and the state says which", async () => {
    const { digest, green, blue, deployId, previous } = await deployWatched("killed-during-rollback");
    const watching = new AbortController();
    const blueStarted = nextEvent(docker, blue, "start", watching.signal);
    await exitRelease(docker, green);
    await blueStarted;
    await agent.stop("SIGKILL");
    watching.abort();
    const cut = readState(agent) as { apps: Record<string, { watch?: { rollingBack?: string } }> };
    expect(cut.apps[app]?.watch?.rollingBack).toBe(`the new release ${green} exited (exit code ${FAULTY_EXIT_STATUS})`);
    // Cut off before the end: the failed new release is still on the Engine.
    expect(await containerState(green)).toBe("exited");

    await restart();
    const record = (await deployHistory(agent, app)).find((h) => h.id === deployId);
    expect(record).toMatchObject({ outcome: "rolled-back", error: { code: "WATCH_FAILED" } });
    const st = await appStatus(agent, app);
    expect(st.live?.digest).toBe(previous);
    expect(st.skip.map((e) => e.digest)).toContain(digest);
    expect((await expectOneServing(agent, app, traefik.url, docker)).running).toBe(blue);
    await traefik.waitForServing(host, blue, 10_000);
    await hook.waitFor((r) => isRolledBack(r.json, deployId), 10_000);
    expect(rolledBack(deployId)).toHaveLength(1);
    expect(rolledBack(deployId)[0]).toMatchObject({ trigger: "watch", reason: expect.stringContaining("exited"), release: { digest }, previous: { digest: previous } });
  }, 90_000);
});
