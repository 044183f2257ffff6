// Release steps on the real Engine and registry: predeploy (migrations) runs from the new image
// before green exists, with the app's env and volumes; its failure or timeout fails the deploy with
// blue untouched and the digest skipped; a rollback does not run it; a failing postdeploy is
// recorded and notified without a rollback; and a daemon killed while a predeploy runs leaves
// nothing behind after its restart and does not run it again by itself. One daemon serves every
// app (two runs: before and after the kill), each app its own bind-mounted data folder.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentctl, appStatus, deployHistory, startAgent, waitFor, writeConfig, type AgentProcess, type CtlResult } from "../support/agent.js";
import { publishVersion, TEST_RUN_LABEL, testRunId } from "../support/images.js";
import { startNotifyReceiver, type NotifyReceiver } from "../support/notify-receiver.js";
import { storyScope } from "../support/story-scope.js";

const run = testRunId();
const repo = `stories/hk-steps-${run}`;
const image = `127.0.0.1:5000/${repo}`;
const scope = storyScope("da-hk-steps-");
const docker = new Dockerode();
const dir = scope.dir();

// Where a command writes to stdout and then stderr, it pauses between them so that the Engine's
// log keeps the two streams' lines in the order they were written.

/** `sh -c` that does `then` only in release v2 (the image serves its version from /www/version). */
const inV2 = (then: string) => ["sh", "-c", `if [ "$(cat /www/version)" = v2 ]; then ${then}; fi`];

const apps = {
  // Green starts only if the migration of its own version is in the volume: it checks at start.
  mig: {
    name: `hk-mig-${run}`,
    extra: {
      env: { DB_NAME: "shop" },
      command: ["sh", "-c", 'grep -qx "migrated shop $(cat /www/version)" /data/migrations && exec httpd -f -p 8000 -h /www'],
      predeploy: { command: ["sh", "-c", 'echo "migrated $DB_NAME $(cat /www/version)" >> /data/migrations'] },
    },
  },
  fail: { name: `hk-fail-${run}`, extra: { predeploy: { command: inV2('echo "migrating users"; sleep 0.1; echo "no such table: users" >&2; exit 3') } } },
  hang: { name: `hk-hang-${run}`, extra: { predeploy: { command: inV2("exec sleep 60"), timeout: "2s" } } },
  post: { name: `hk-post-${run}`, extra: { postdeploy: { command: ["sh", "-c", 'echo "purging cdn"; sleep 0.1; echo "purge refused: 403" >&2; exit 4'] } } },
  // v2's predeploy hangs on its first run only (the daemon is killed then), and passes the next time.
  kill: { name: `hk-kill-${run}`, extra: { predeploy: { command: inV2("echo run >> /data/runs; [ -f /data/hung ] || { touch /data/hung; exec sleep 60; }") } } },
} as const;

const dataDir = (app: string) => join(dir, "data", app);

/** One app that deploys only by hand (mode notify: the poll at start deploys nothing), its data folder mounted at /data. */
function appBlock(app: string, extra: object): string {
  mkdirSync(dataDir(app), { recursive: true });
  const block = {
    image,
    track: "v1",
    mode: "notify",
    schedule: "0 0 1 1 *",
    port: 8000,
    health: { path: "/health", startTimeout: "30s" },
    route: { rule: `Host(\`${app}.test\`)`, network: `da-net-${app}` },
    drain: "1s",
    settle: "1s",
    stopTimeout: "5s",
    volumes: [`${dataDir(app)}:/data`],
    labels: { [TEST_RUN_LABEL]: run },
    ...extra,
  };
  return `  ${app}: ${JSON.stringify(block)}\n`;
}

let agent: AgentProcess;
let receiver: NotifyReceiver;
const firstDeploys = new Map<string, CtlResult>();

beforeAll(async () => {
  receiver = await startNotifyReceiver();
  await publishVersion({ repo, tag: "v1", behaviour: "good", version: "v1" });
  await publishVersion({ repo, tag: "v2", behaviour: "good", version: "v2" });
  const notify = `notify: [{ url: "${receiver.url}/hook", events: [postdeploy-failed] }]\n`;
  writeConfig(dir, `state: ${dir}/state.json\nsocket: ${dir}/agent.sock\n${notify}apps:\n${Object.values(apps).map((a) => appBlock(a.name, a.extra)).join("")}`);
  agent = scope.track(await startAgent(dir));
  // v1 of every app at once: each has its own deploy lock.
  await Promise.all(Object.values(apps).map(async (a) => firstDeploys.set(a.name, await agentctl(agent, ["deploy", a.name, "v1"]))));
});

afterAll(async () => {
  await receiver?.close();
  await scope.close();
});

async function container(name: string): Promise<Dockerode.ContainerInspectInfo | undefined> {
  return docker
    .getContainer(name)
    .inspect()
    .catch(() => undefined);
}

/** The app's one web container, which must be running, and proof that nothing else of the app exists (no green, no one-off). */
async function onlyContainer(app: string): Promise<Dockerode.ContainerInfo> {
  const list = await docker.listContainers({ all: true, filters: { label: [`deploy-agent.app=${app}`] } });
  expect(list.map((c) => `${c.Names[0]} ${c.State}`)).toEqual([`${list[0]?.Names[0]} running`]);
  return list[0]!;
}

/** A predeploy that failed: the deploy failed before anything of v2 was created, blue is the same container still running v1, and v2's digest is skipped. */
async function expectFailedBeforeAnythingStarted(app: string, deploy: CtlResult, blueBefore: Dockerode.ContainerInfo): Promise<Record<string, unknown>> {
  expect(deploy.code, deploy.stdout + deploy.stderr).toBe(1);
  expect(deploy.stdout).toMatch(/predeploy +started/);
  expect(deploy.stdout).not.toMatch(/create +started/);
  expect(deploy.stderr).toContain("[PREDEPLOY_FAILED]");
  const blueAfter = await onlyContainer(app);
  expect([blueAfter.Id, blueAfter.Labels["deploy-agent.version"]]).toEqual([blueBefore.Id, "v1"]);
  expect(await container(`${app}-predeploy`)).toBeUndefined();
  const [rec] = await deployHistory(agent, app);
  expect([rec?.version, rec?.outcome, rec?.error?.code, rec?.steps.map((s) => s.name)]).toEqual(["v2", "failed", "PREDEPLOY_FAILED", ["resolve", "pull", "predeploy"]]);
  const status = await appStatus(agent, app);
  expect(status.live?.version).toBe("v1");
  expect(status.skip.map((s) => [s.version, s.digest, s.reason])).toEqual([["v2", rec?.digest, "failed"]]);
  return rec!.hooks!.predeploy!;
}

describe("predeploy", () => {
  it("runs the migration from the new image with the app's env and volume before the new release starts, as a step of its own", async () => {
    const first = firstDeploys.get(apps.mig.name)!;
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toMatch(/predeploy +started[\s\S]*predeploy +done[^\n]*exited 0[\s\S]*create +started/);
    const v2 = await agentctl(agent, ["deploy", apps.mig.name, "v2"]);
    expect(v2.code, v2.stdout + v2.stderr).toBe(0);
    // Green refuses to start without its own version's migration: it ran, from v2's image, first.
    expect(readFileSync(join(dataDir(apps.mig.name), "migrations"), "utf8")).toBe("migrated shop v1\nmigrated shop v2\n");
    const [rec] = await deployHistory(agent, apps.mig.name);
    expect(rec?.steps.map((s) => s.name)).toEqual(["resolve", "pull", "predeploy", "create", "start", "confirm", "drain", "stop", "record"]);
    expect(rec?.hooks?.predeploy).toMatchObject({ exitCode: 0, timedOut: false });
    expect((await onlyContainer(apps.mig.name)).Labels["deploy-agent.version"]).toBe("v2");
  });

  it("is not run by a rollback: migrations are forward-only", async () => {
    const rb = await agentctl(agent, ["rollback", apps.mig.name]);
    expect(rb.code, rb.stdout + rb.stderr).toBe(0);
    expect(rb.stdout).not.toContain("predeploy");
    expect(readFileSync(join(dataDir(apps.mig.name), "migrations"), "utf8")).toBe("migrated shop v1\nmigrated shop v2\n");
    const [rec] = await deployHistory(agent, apps.mig.name);
    expect([rec?.trigger, rec?.outcome, rec?.version, rec?.hooks]).toEqual(["rollback", "succeeded", "v1", undefined]);
    expect((await onlyContainer(apps.mig.name)).Labels["deploy-agent.version"]).toBe("v1");
  });

  it("fails the deploy before anything serves when the migration exits non-zero, keeping its exit code and output and skipping the digest", async () => {
    const app = apps.fail.name;
    expect(firstDeploys.get(app)?.code).toBe(0);
    const blue = await onlyContainer(app);
    const deploy = await agentctl(agent, ["deploy", app, "v2"]);
    expect(deploy.stderr).toContain("predeploy exited with status 3; its last output lines:\n  migrating users\n  no such table: users\n");
    expect(deploy.stderr).toContain("its last line: no such table: users");
    const hook = await expectFailedBeforeAnythingStarted(app, deploy, blue);
    expect(hook).toMatchObject({ exitCode: 3, timedOut: false, output: "migrating users\nno such table: users" });
    const human = await agentctl(agent, ["history", app]);
    expect(human.stdout).toMatch(/failed .*PREDEPLOY_FAILED: the predeploy of /);
  });

  it("kills a migration that runs past its timeout and fails the deploy the same way, recording the timeout", async () => {
    const app = apps.hang.name;
    expect(firstDeploys.get(app)?.code).toBe(0);
    const blue = await onlyContainer(app);
    const deploy = await agentctl(agent, ["deploy", app, "v2"]);
    expect(deploy.stderr).toContain("predeploy ran past its timeout and was killed");
    const hook = await expectFailedBeforeAnythingStarted(app, deploy, blue);
    expect(hook).toMatchObject({ timedOut: true, exitCode: 137 });
  });
});

describe("postdeploy", () => {
  it("records, prints and notifies a failing hook, and keeps the new release live", async () => {
    const app = apps.post.name;
    const deploy = firstDeploys.get(app)!;
    expect(deploy.code, deploy.stdout + deploy.stderr).toBe(0);
    expect(deploy.stdout).toMatch(/stop +done[\s\S]*postdeploy +started[\s\S]*postdeploy +done[^\n]*exited with status 4; the new release stays live[\s\S]*record +started/);
    expect(deploy.stdout).toContain("succeeded: v1");
    expect(deploy.stderr).toContain("warning: postdeploy exited with status 4; the new release stays live; its last output lines:\n  purging cdn\n  purge refused: 403\n");
    const [rec] = await deployHistory(agent, app);
    expect([rec?.outcome, rec?.hooks?.postdeploy]).toEqual(["succeeded", { exitCode: 4, timedOut: false, output: "purging cdn\npurge refused: 403", durationMs: expect.any(Number) }]);
    expect((await agentctl(agent, ["history", app])).stdout).toMatch(/succeeded .*postdeploy exited with status 4/);
    expect((await appStatus(agent, app)).live?.version).toBe("v1");
    expect((await onlyContainer(app)).State).toBe("running");
    const sent = await receiver.waitFor((r) => (r.json as { app?: string } | undefined)?.app === app);
    expect(sent.json).toMatchObject({ event: "postdeploy-failed", outcome: "succeeded", release: { version: "v1" }, exitCode: 4, timedOut: false, logTail: ["purging cdn", "purge refused: 403"] });
  });
});

describe("a daemon killed while a predeploy runs", () => {
  it("shows the step and its one-off in status, then leaves no one-off after its restart, records the deploy aborted with blue serving, and runs the predeploy again only with the next deploy", async () => {
    const app = apps.kill.name;
    expect(firstDeploys.get(app)?.code).toBe(0);
    const blue = await onlyContainer(app);
    void agentctl(agent, ["deploy", app, "v2"]);
    await waitFor("the predeploy one-off to run", async () => (await container(`${app}-predeploy`))?.State.Running && existsSync(join(dataDir(app), "hung")), 60_000);
    const during = await appStatus(agent, app);
    expect(during.running?.step).toBe("predeploy");
    expect(during.containers.map((c) => [c.name, c.slot, c.state])).toContainEqual([`${app}-predeploy`, "predeploy", "running"]);
    await agent.stop("SIGKILL");
    expect((await container(`${app}-predeploy`))?.State.Running).toBe(true);

    agent = scope.track(await startAgent(dir));
    await waitFor("reconcile to remove the one-off", async () => (await container(`${app}-predeploy`)) === undefined, 30_000);
    // Mode notify records what the poll at start finds as available: not deploys.
    const history = (await deployHistory(agent, app)).filter((r) => r.outcome !== "available");
    expect(history.map((r) => [r.version, r.outcome, r.error?.code, r.steps.at(-1)?.name])).toEqual([
      ["v2", "aborted", "DEPLOY_ABORTED", "predeploy"],
      ["v1", "succeeded", undefined, "record"],
    ]);
    expect((await onlyContainer(app)).Id).toBe(blue.Id);
    const status = await appStatus(agent, app);
    expect([status.live?.version, status.skip, status.running]).toEqual(["v1", [], undefined]);
    expect(readFileSync(join(dataDir(app), "runs"), "utf8")).toBe("run\n");

    // Not skipped: the next deploy runs the whole sequence again, its predeploy included.
    const again = await agentctl(agent, ["deploy", app, "v2"]);
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(readFileSync(join(dataDir(app), "runs"), "utf8")).toBe("run\nrun\n");
    expect((await onlyContainer(app)).Labels["deploy-agent.version"]).toBe("v2");
  });
});
