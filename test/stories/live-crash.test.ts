// The fault matrix's "the previous (live) release crashes on its own while idle": the agent
// notices from the Engine's events, says so once in the journal (exit status and last log lines)
// and in `agentctl status` (text and --json) until the release runs healthy again, which it says
// once too. The agent does not restart it: the app's restart policy (unless-stopped) does.
// The app's worker role (no health check) is followed the same way: killed through the Engine, it
// is said once and shown on its role's line of status, and said back once it has run 10 s again.
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentctl, agentYaml, appStatus, loggedLines, startAgent, storyApp, waitFor, writeConfig, type AgentProcess } from "../support/agent.js";
import { crashRelease, failHealth, faultyRelease, FAULTY_EXIT_STATUS, healHealth } from "../support/container-faults.js";
import { expectOneServing } from "../support/end-state.js";
import { publishVersion, testRunId } from "../support/images.js";
import { storyScope } from "../support/story-scope.js";
import { startTraefikModel, type TraefikModel } from "../support/traefik-model.js";

const run = testRunId();
const app = `cf-live-${run}`;
const repo = `stories/${app}`;
const docker = new Dockerode();
const scope = storyScope("cf-");
const DOWN = "the live release is not running: it exited";
const UNHEALTHY = "the live release is unhealthy in Docker";
const BACK = "the live release runs healthy again";
const WORKER_DOWN = "the live release's worker is not running: it exited";
const WORKER_BACK = "the live release's worker runs again (10 s without exiting)";
/** A worker with no health check: judged by running 10 s, at the deploy and by the live watch. */
const WORKER = `["sh", "-c", "echo worker: waiting for jobs; while true; do sleep 1; done"]`;

let agent: AgentProcess;
let traefik: TraefikModel;
let live: string;

/** The daemon's lines about `app` from line `from` on whose message starts with `words`. */
function said(words: string, from: number): Record<string, unknown>[] {
  return agent.lines.slice(from).flatMap((l) => {
    try {
      const line = JSON.parse(l) as Record<string, unknown>;
      return line.app === app && String(line.msg).startsWith(words) ? [line] : [];
    } catch {
      return [];
    }
  });
}

async function engineStreams(): Promise<number> {
  const r = await agentctl(agent, ["status", app], { json: true });
  return (r.json as { daemon: { engineStreams: number } }).daemon.engineStreams;
}

beforeAll(async () => {
  const dir = scope.dir();
  writeConfig(dir, agentYaml(dir, `${storyApp(app, `127.0.0.1:5000/${repo}`, run)}\n    roles:\n      worker: { command: ${WORKER} }`));
  traefik = await startTraefikModel({ docker });
  await publishVersion({ repo, tag: "v1", behaviour: "good", version: "v1" });
  await faultyRelease(repo, "v1", ["latest"], "live");
  agent = scope.track(await startAgent(dir));
  const s = await waitFor(`${app} to be live`, async () => (await appStatus(agent, app)).live, 120_000);
  live = `${app}-${s.slot}`;
  await traefik.waitForServing(`${app}.test`, live, 60_000);
}, 180_000);

afterAll(async () => {
  await traefik?.close();
  await scope.close();
});

describe("the live release fails on its own while no deploy runs", () => {
  it("says once in the log, with the exit status and the last log lines, that the live release exited, and once that it serves again when its restart policy brings it back", async () => {
    const streams = await engineStreams();
    const from = agent.lines.length;
    await crashRelease(docker, live);
    const [down] = await waitFor("the warning that the live release exited", () => (said(DOWN, from).length > 0 ? said(DOWN, from) : undefined), 60_000, 100);
    expect(down).toMatchObject({ level: 40, container: live, condition: "exited", exitCode: FAULTY_EXIT_STATUS });
    expect(String(down!.logs)).toContain(`told to exit, exiting with status ${FAULTY_EXIT_STATUS}`);
    await waitFor("the line that the live release is back", () => said(BACK, from).length > 0, 90_000, 100);
    expect(said(DOWN, from)).toHaveLength(1);
    expect(said(BACK, from)).toHaveLength(1);
    expect((await appStatus(agent, app)).liveProblem).toBeUndefined();
    expect((await expectOneServing(agent, app, traefik.url, docker)).running).toBe(live);
    await traefik.waitForServing(`${app}.test`, live, 30_000);
    expect(await engineStreams()).toBe(streams);
  }, 180_000);

  it("shows in status, text and --json, that the live release is unhealthy and since when, until it passes again", async () => {
    const from = agent.lines.length;
    const before = Date.now();
    await failHealth(docker, live);
    const problem = await waitFor("status to show the live release unhealthy", async () => (await appStatus(agent, app)).liveProblem, 90_000, 300);
    expect(problem).toMatchObject({ condition: "unhealthy", words: expect.stringContaining(UNHEALTHY) });
    expect(Date.parse(problem.since)).toBeGreaterThanOrEqual(before - 1000);
    const text = await agentctl(agent, ["status", app]);
    expect(text.stdout).toMatch(/live state +the live release is unhealthy in Docker, so Traefik does not route to it, since /);
    expect(said(UNHEALTHY, from)).toHaveLength(1);

    await healHealth(docker, live);
    await waitFor("the line that the live release is back", () => said(BACK, from).length > 0, 90_000, 100);
    expect((await appStatus(agent, app)).liveProblem).toBeUndefined();
    expect((await agentctl(agent, ["status", app])).stdout).not.toContain("live state");
    expect(said(UNHEALTHY, from)).toHaveLength(1);
    expect(said(BACK, from)).toHaveLength(1);
  }, 180_000);

  it("says once that the live release's worker exited when the Engine kills it, shows it on the worker's line of status (text and --json) while web's liveProblem stays clear, and says once that it runs again 10 s after the Engine starts it", async () => {
    const worker = `${app}-worker-${live.slice(app.length + 1)}`;
    const from = agent.lines.length;
    await docker.getContainer(worker).kill();
    const [down] = await waitFor("the warning that the worker exited", () => (said(WORKER_DOWN, from).length > 0 ? said(WORKER_DOWN, from) : undefined), 60_000, 100);
    expect(down).toMatchObject({ level: 40, role: "worker", container: worker, condition: "exited", exitCode: 137 });
    expect(String(down!.logs)).toContain("worker: waiting for jobs");

    const s = await appStatus(agent, app);
    expect(s.liveProblem).toBeUndefined();
    expect(s.roles?.find((r) => r.name === worker)?.liveProblem).toMatchObject({ condition: "exited", exitCode: 137, words: `${WORKER_DOWN} (last exit status 137)` });
    const text = await agentctl(agent, ["status", app]);
    expect(text.stdout).toMatch(new RegExp(`worker +${worker} .*\\(${WORKER_DOWN} \\(last exit status 137\\), since `));
    expect(text.stdout).not.toContain("live state");

    // A kill through the Engine counts as stopped by hand, so the restart policy leaves it: start it.
    await docker.getContainer(worker).start();
    await waitFor("the line that the worker runs again", () => said(WORKER_BACK, from).length > 0, 60_000, 100);
    expect(said(WORKER_DOWN, from)).toHaveLength(1);
    expect(said(WORKER_BACK, from)).toMatchObject([{ role: "worker", container: worker }]);
    expect((await appStatus(agent, app)).roles?.find((r) => r.name === worker)?.liveProblem).toBeUndefined();
  }, 120_000);

  it("prints the live release's output through agentctl logs: a role's with --role, the last N with --tail, and names the roles for an unknown one", async () => {
    const worker = await agentctl(agent, ["logs", app, "--role", "worker", "--tail", "1"]);
    expect(worker.code, worker.stderr).toBe(0);
    // The worker was started twice (the deploy, the test above): --tail 1 keeps one of its two lines.
    expect(worker.stdout).toBe("worker: waiting for jobs\n");
    const all = await agentctl(agent, ["logs", app, "--role", "worker"]);
    expect(all.stdout).toBe("worker: waiting for jobs\nworker: waiting for jobs\n");
    const web = await agentctl(agent, ["logs", app, "--since", "1h"]);
    expect(web.code, web.stderr).toBe(0);
    const unknown = await agentctl(agent, ["logs", app, "--role", "mailer"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(`--role: ${app} has no role "mailer" (roles: worker)`);
  }, 60_000);
});
