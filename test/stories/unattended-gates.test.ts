// Unattended gates on the real daemon, Engine and registry, one daemon for three apps: an app in
// mode notify records a new release as available and pulls nothing until `agentctl deploy`; an
// app whose window is closed waits with the time it opens, and `agentctl deploy` ignores the
// window; an app with a minAge of a few seconds says when its release is eligible and deploys it
// by itself then (its schedule never fires: only the agent's own timer can). `update-available`
// reaches a local HTTP receiver once per digest, across a second check and a daemon restart.
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentctl, agentYaml, appStatus, deployHistory, readState, settledDeploy, startAgent, storyApp, waitFor, writeConfig, type AgentProcess } from "../support/agent.js";
import { publishVersion, removeLocalImages, statusCode, testRunId } from "../support/images.js";
import { startNotifyReceiver, type NotifyReceiver } from "../support/notify-receiver.js";
import { storyScope } from "../support/story-scope.js";

const run = testRunId();
const notifyApp = `n9g-notify-${run}`;
const windowApp = `n9g-window-${run}`;
const ageApp = `n9g-age-${run}`;
const repoOf = (app: string) => `stories/${app}`;
const imageOf = (app: string) => `127.0.0.1:5000/${repoOf(app)}`;
const NEVER = "0 0 1 1 *";
const docker = new Dockerode();
const scope = storyScope("da-n9g-");

// A window on the day after tomorrow (host's local time) is closed now, and opens at its midnight.
const opening = new Date();
opening.setHours(0, 0, 0, 0);
opening.setDate(opening.getDate() + 2);
const WINDOW_DAY = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][opening.getDay()]!;

let dir: string;
let agent: AgentProcess;
let receiver: NotifyReceiver;
const digests: Record<string, string> = {};

interface Announced {
  event: string;
  app: string;
  release?: { version: string; digest: string };
}

function announced(app: string): Announced[] {
  return receiver.received.map((r) => r.json as Announced).filter((j) => j?.event === "update-available" && j.app === app);
}

async function ok(args: string[]): Promise<string> {
  const r = await agentctl(agent, args);
  expect(r.code, `agentctl ${args.join(" ")}:\n${r.stdout}${r.stderr}`).toBe(0);
  return r.stdout;
}

async function onHost(ref: string): Promise<boolean> {
  return docker
    .getImage(ref)
    .inspect()
    .then(
      () => true,
      (err: unknown) => {
        if (statusCode(err) === 404) return false;
        throw err;
      },
    );
}

beforeAll(async () => {
  receiver = await startNotifyReceiver();
  dir = scope.dir();
  const apps = [
    storyApp(notifyApp, imageOf(notifyApp), run, { schedule: NEVER }) + "\n    mode: notify",
    storyApp(windowApp, imageOf(windowApp), run, { schedule: NEVER }) + `\n    window: ["${WINDOW_DAY} 00:00-01:00"]`,
    storyApp(ageApp, imageOf(ageApp), run, { schedule: NEVER }) + "\n    minAge: 8s",
  ];
  writeConfig(dir, `notify:\n  - url: ${receiver.url}/hook\n${agentYaml(dir, ...apps)}`);
  for (const app of [notifyApp, windowApp, ageApp]) {
    digests[app] = (await publishVersion({ repo: repoOf(app), tag: "latest", behaviour: "good", version: "v1" })).digest;
    // What the push left on the host goes: a deploy has to pull, so "not pulled" shows.
    await removeLocalImages(repoOf(app));
  }
  // The first poll at start finds each app's release; the schedules never fire.
  agent = scope.track(await startAgent(dir));
}, 120_000);

afterAll(async () => {
  await receiver?.close();
  await scope.close();
});

describe("unattended gates", () => {
  it("holds a release back for minAge, says when it is eligible, and deploys it by itself then", async () => {
    const waiting = await waitFor("the minAge app to wait", async () => (await appStatus(agent, ageApp)).waiting);
    expect(waiting).toMatchObject({ gate: "minAge", digest: digests[ageApp], minAgeMs: 8000 });
    const text = await ok(["status", ageApp]);
    expect(text).toMatch(/new release +latest \(sha256:[a-f0-9]{12}\) eligible at \S+ \(minAge 8s\); deployed by itself then/);
    expect((await appStatus(agent, ageApp)).live).toBeUndefined();

    const record = await settledDeploy(agent, ageApp, 60_000);
    expect(record).toMatchObject({ trigger: "poll", outcome: "succeeded", digest: digests[ageApp] });
    expect(Date.parse(record.startedAt)).toBeGreaterThanOrEqual(Date.parse(waiting.until));
    expect((await appStatus(agent, ageApp)).waiting).toBeUndefined();
  }, 90_000);

  it("records a notify-mode app's new release as available, pulls nothing, and deploys it on agentctl deploy", async () => {
    const digest = digests[notifyApp]!;
    const available = await waitFor("the notify app's release to be available", async () => (await appStatus(agent, notifyApp)).available);
    expect(available).toMatchObject({ version: "latest", digest });
    expect(await ok(["status", notifyApp])).toMatch(new RegExp(`available +latest \\(${digest.slice(0, 19)}\\) since \\S+; agentctl deploy ${notifyApp} deploys it`));
    expect((await deployHistory(agent, notifyApp)).map((r) => [r.outcome, r.trigger, r.digest])).toEqual([["available", "poll", digest]]);
    expect(await ok(["check", notifyApp])).toContain(`${notifyApp}  available`);
    expect(await onHost(`${imageOf(notifyApp)}@${digest}`)).toBe(false);
    expect((await appStatus(agent, notifyApp)).live).toBeUndefined();

    expect(await ok(["deploy", notifyApp])).toContain("succeeded");
    const after = await appStatus(agent, notifyApp);
    expect(after.live?.digest).toBe(digest);
    expect(after.available).toBeUndefined();
  }, 60_000);

  it("waits for a closed window with the time it opens, and agentctl deploy ignores the window", async () => {
    const waiting = await waitFor("the window app to wait", async () => (await appStatus(agent, windowApp)).waiting);
    expect(waiting).toMatchObject({ gate: "window", digest: digests[windowApp], until: opening.toISOString() });
    expect(await ok(["status", windowApp])).toContain(`waiting for window, opens ${opening.toISOString().replace(/\.\d{3}Z$/, "Z")}`);
    const check = await ok(["check", windowApp]);
    expect(check).toContain(`${windowApp}  waiting`);
    expect(check).toContain("waiting for window, opens");
    expect((await appStatus(agent, windowApp)).live).toBeUndefined();

    expect(await ok(["deploy", windowApp])).toContain("succeeded");
    const after = await appStatus(agent, windowApp);
    expect(after.live?.digest).toBe(digests[windowApp]);
    expect(after.waiting).toBeUndefined();
  }, 60_000);

  it("sends update-available once per digest, across a second check and a daemon restart, and agentctl deploy deploys the digest recorded", async () => {
    const v2 = await publishVersion({ repo: repoOf(notifyApp), tag: "latest", behaviour: "good", version: "v2" });
    await removeLocalImages(repoOf(notifyApp));
    expect(await ok(["check", notifyApp])).toContain(`${notifyApp}  available`);
    expect(await ok(["check", notifyApp])).toContain(`${notifyApp}  available`);
    expect(await onHost(`${imageOf(notifyApp)}@${v2.digest}`)).toBe(false);
    // A stopping daemon delivers what it has queued, so after a restart, a check and a stop every
    // notification the agent meant to send has arrived.
    expect(await agent.stop()).toBe(0);
    agent = scope.track(await startAgent(dir));
    expect(await ok(["check", notifyApp])).toContain(`${notifyApp}  available`);
    expect((await appStatus(agent, notifyApp)).available).toMatchObject({ digest: v2.digest });
    // The tag moves on with no poll to see it: agentctl deploy deploys what was recorded, not the tag.
    await publishVersion({ repo: repoOf(notifyApp), tag: "latest", behaviour: "good", version: "v3" });
    expect(await ok(["deploy", notifyApp])).toContain("succeeded");
    expect((await appStatus(agent, notifyApp)).live?.digest).toBe(v2.digest);
    expect(await agent.stop()).toBe(0);

    const byDigest = (app: string) => announced(app).map((e) => e.release?.digest);
    expect(byDigest(notifyApp)).toEqual([digests[notifyApp], v2.digest]);
    expect(byDigest(windowApp)).toEqual([digests[windowApp]]);
    expect(byDigest(ageApp)).toEqual([digests[ageApp]]);
    const records = readState(agent) as { apps: Record<string, { history: { outcome: string }[] }> };
    expect(records.apps[notifyApp]!.history.filter((h) => h.outcome === "available")).toHaveLength(2);
  }, 90_000);
});
