// One daemon per state file and per control socket. A second daemon on either exits non-zero
// naming the running one's pid, before it calls the Engine or writes a file: the green that the
// first one is judging stays, and so do its state file and socket. A daemon killed with SIGKILL
// leaves no lock behind.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import Dockerode from "dockerode";
import { afterAll, describe, expect, it } from "vitest";
import { agentctl, type AgentProcess, agentYaml, appStatus, makeAgentDir, removeDir, settledDeploy, startAgent, storyApp, waitFor, writeConfig } from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { runDaemon, runningDeployIn } from "../support/daemon-run.js";
import { publishVersion, testRunId } from "../support/images.js";

const run = testRunId();
const docker = new Dockerode();
const app = `one-web-${run}`;
const appBlock = storyApp(app, `127.0.0.1:5000/stories/${app}`, run);
const dirs: string[] = [];
const agents: AgentProcess[] = [];

function newDir(): string {
  const dir = makeAgentDir("one-single-");
  dirs.push(dir);
  return dir;
}

afterAll(async () => {
  for (const a of agents) await a.stop("SIGKILL");
  await cleanupTestRun();
  for (const d of dirs) removeDir(d);
});

async function appContainers(): Promise<{ id: string; name: string; state: string }[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`deploy-agent.app=${app}`] } });
  return list.map((c) => ({ id: c.Id, name: c.Names[0]!.replace(/^\//, ""), state: c.State })).sort((a, b) => a.name.localeCompare(b.name));
}

describe("a second daemon", () => {
  // The first daemon, judging a green that takes 15 s to become healthy.
  const dir = newDir();
  let first: AgentProcess;

  it("on the same state file exits naming the running one's pid, and leaves its green, state file and socket alone", async () => {
    await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "slow", version: "v1", delaySec: 15 });
    writeConfig(dir, agentYaml(dir, appBlock));
    first = await startAgent(dir);
    agents.push(first);
    await waitFor("the first deploy to be in its start step", () => runningDeployIn(first.statePath, app, "start"), 90_000, 50);
    const green = await appContainers();
    expect(green).toHaveLength(1);
    const stateBefore = readFileSync(first.statePath);

    // Same state file, its own socket.
    const other = newDir();
    const config = writeConfig(other, `state: ${first.statePath}\nsocket: ${other}/agent.sock\napps:${appBlock}\n`);
    const second = await runDaemon(["--config", config]);

    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`deploy-agent: another deploy-agent (pid ${first.child.pid}) is already running on the state file ${first.statePath}; this one exits without touching it`);
    expect(second.stderr).toContain("deploy-agent --check --config FILE");
    // It stopped before the Engine ("starting" is logged once the Engine answered) and before reconcile.
    expect(second.messages).not.toContain("deploy-agent starting");
    expect(second.messages).not.toContain("reconciled");
    expect(existsSync(`${other}/agent.sock`)).toBe(false);
    expect(readFileSync(first.statePath).equals(stateBefore)).toBe(true);
    // The same container, not removed or replaced (its state may have moved on from "created": the deploy goes on).
    const same = (cs: { id: string; name: string }[]) => cs.map((c) => ({ id: c.id, name: c.name }));
    expect(same(await appContainers())).toEqual(same(green));

    // The first daemon's deploy goes on to serve: its green was never touched.
    expect((await settledDeploy(first, app, 90_000)).outcome).toBe("succeeded");
  });

  it("on the same socket with its own state file exits naming the running one's pid, and writes no state", async () => {
    const other = newDir();
    const config = writeConfig(other, `state: ${other}/state.json\nsocket: ${first.socket}\napps:${appBlock}\n`);
    const second = await runDaemon(["--config", config]);

    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`deploy-agent: another deploy-agent (pid ${first.child.pid}) is already running on the control socket ${first.socket}; this one exits without touching it`);
    expect(second.messages).not.toContain("deploy-agent starting");
    expect(existsSync(`${other}/state.json`)).toBe(false);
    // The first one's socket still answers.
    expect((await appStatus(first, app)).live?.version).toBe("latest");
  });

  it("is what --check names, without taking the running one's lock", async () => {
    const r = await runDaemon(["--check", "--config", first.configPath]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`  daemon   running on this config's files (pid ${first.child.pid})`);
    expect(r.stdout).toContain(`  state    ${first.statePath} (valid, 1 app recorded)`);
    expect(r.stdout.split("\n").find((l) => l.startsWith(app))?.split(/\s{2,}/).at(-1)).toBe("latest");
    expect((await appStatus(first, app)).live?.version).toBe("latest");
  });

  it("is refused under another spelling of the same state file's path", async () => {
    const other = newDir();
    const config = writeConfig(other, `state: ${join(dir, "..", dir.split("/").at(-1)!, ".", "state.json")}\nsocket: ${other}/agent.sock\napps:${appBlock}\n`);
    const second = await runDaemon(["--config", config]);
    expect(second.code).toBe(1);
    expect(second.stderr).toContain(`another deploy-agent (pid ${first.child.pid}) is already running on the state file`);
  });

  it("takes over at once from a daemon killed with SIGKILL, on the same files", async () => {
    first.child.kill("SIGKILL");
    await first.exited;
    const next = await startAgent(dir);
    agents.push(next);
    expect(next.lines.some((l) => l.includes("ALREADY_RUNNING"))).toBe(false);
    expect((await appStatus(next, app)).live?.version).toBe("latest");
    const status = await agentctl(next, ["status", app]);
    expect(status.code, status.stderr).toBe(0);
    await next.stop();
  });
});
