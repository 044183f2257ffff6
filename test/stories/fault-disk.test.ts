// Fault matrix, state-disk cells: the state file's filesystem (a small tmpfs mounted for the test)
// fills up or turns read-only before the switch, after the switch, and while idle. The deploy is
// not undone for it: the state is kept in memory, `status` and the log say the file could not be
// written (once per episode), and it is written when the disk allows. Needs root (mount).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentctl, agentYaml, makeAgentDir, removeDir, requestLoop, servedVersion, sleep, startAgent, storyApp, waitFor, writeConfig, type AgentProcess } from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { expectSettledTruth, settled } from "../support/fault-matrix.js";
import { publishVersion, testRunId } from "../support/images.js";
import { startTraefikModel } from "../support/traefik-model.js";

const run = testRunId();
/** A cell runs two or three deploys and a restart; on a busy 2-core runner that takes minutes. */
const CELL_MS = 360_000;
const docker = new Dockerode();
let traefik: Awaited<ReturnType<typeof startTraefikModel>>;
const dirs: string[] = [];
const mounts: string[] = [];
const agents: AgentProcess[] = [];

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("the state-disk cells mount a tmpfs and need root; run them as root (the CI runner is)");
  traefik = await startTraefikModel({ docker });
});

afterAll(async () => {
  for (const a of agents) await a.stop("SIGKILL");
  for (const m of mounts) spawnSync("umount", ["-l", m]);
  await traefik?.close();
  await cleanupTestRun();
  for (const d of [...dirs, ...mounts]) removeDir(d);
});

const serving = (app: string) => servedVersion(traefik.url, `${app}.test`);

type Fault = "full" | "read-only";

function breakDisk(mnt: string, fault: Fault): void {
  if (fault === "full") spawnSync("dd", ["if=/dev/zero", `of=${join(mnt, "fill")}`, "bs=16k"]);
  else execFileSync("mount", ["-o", "remount,ro", mnt]);
}

function healDisk(mnt: string, fault: Fault): void {
  if (fault === "full") rmSync(join(mnt, "fill"), { force: true });
  else execFileSync("mount", ["-o", "remount,rw", mnt]);
}

/** Waits until the deploy of `app` in the state file is in `step`. */
function inStep(statePath: string, app: string, step: string): Promise<true> {
  return waitFor(`the deploy to reach ${step}`, () => {
    const s = JSON.parse(readFileSync(statePath, "utf8")) as { apps?: Record<string, { history: { outcome: string; steps: { name: string; endedAt?: string }[] }[] }> };
    const r = s.apps?.[app]?.history[0];
    const last = r?.steps.at(-1);
    return r?.outcome === "running" && last?.name === step && last.endedAt === undefined ? (true as const) : undefined;
  }, 90_000, 50);
}

const whens = ["before the switch", "after the switch", "while idle"] as const;

describe("the state file's filesystem full or read-only", () => {
  for (const fault of ["full", "read-only"] as const) {
    for (const when of whens) {
      it(`finishes the deploy and writes the state later when the state disk is ${fault} ${when}`, async () => {
        const app = `c8-disk-${fault === "full" ? "f" : "ro"}-${whens.indexOf(when)}-${run}`;
        const dir = makeAgentDir("c8-disk-");
        dirs.push(dir);
        const mnt = mkdtempSync(join(tmpdir(), "c8-state-"));
        execFileSync("mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", mnt]);
        mounts.push(mnt);
        const statePath = join(mnt, "state.json");
        const yaml = agentYaml(dir, storyApp(app, `127.0.0.1:5000/stories/${app}`, run, { drain: "6s", settle: "1s", network: `c8-net-${run}` }));
        writeConfig(dir, yaml.replace(`state: ${dir}/state.json`, `state: ${statePath}`));
        await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "good", version: "v1" });
        const agent = await startAgent(dir, { statePath });
        agents.push(agent);
        await waitFor("v1 to serve", async () => (await serving(app)) === "v1", 90_000);
        await settled(docker, agent, app);
        const loop = requestLoop(traefik.url, `${app}.test`);
        try {
          if (when === "while idle") {
            breakDisk(mnt, fault);
            await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "good", version: "v2" });
          } else {
            const slow = when === "before the switch";
            await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: slow ? "slow" : "good", version: "v2", ...(slow ? { delaySec: 5 } : {}) });
            await inStep(statePath, app, slow ? "start" : "drain");
            breakDisk(mnt, fault);
          }
          await waitFor("v2 to serve", async () => (await serving(app)) === "v2", 90_000);
          const during = await agentctl(agent, ["status", app], { json: true });
          expect((during.json as { stateWrite?: { message: string } }).stateWrite?.message).toContain(`could not write state file ${statePath}`);
          await waitFor("the deploy to finish", async () => {
            const h = await agentctl(agent, ["history", app], { json: true });
            return (h.json as { outcome: string }[] | undefined)?.[0]?.outcome === "succeeded";
          }, 60_000);
        } finally {
          healDisk(mnt, fault);
        }
        await waitFor("the state file to be written again", () => agent.lines.some((l) => l.includes('"state file written again"')), 30_000);
        expect(agent.lines.filter((l) => l.includes('"state file could not be written"'))).toHaveLength(1);
        const after = await agentctl(agent, ["status", app], { json: true });
        expect((after.json as { stateWrite?: unknown }).stateWrite).toBeUndefined();
        await settled(docker, agent, app);
        const state = await expectSettledTruth(docker, agent, app);
        expect(state.apps[app]!.live?.version).toBe("latest");
        expect(state.apps[app]!.history[0]).toMatchObject({ outcome: "succeeded" });
        expect(state.apps[app]!.skip).toEqual([]);
        // The agent goes on by itself: the next release deploys on the next poll.
        await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "good", version: "v3" });
        await waitFor("v3 to serve", async () => (await serving(app)) === "v3", 90_000);
        await settled(docker, agent, app);
        const seen = await loop.stop();
        expect(seen.failed, JSON.stringify(seen.failed.slice(0, 5))).toEqual([]);
        await agent.stop();
        await sleep(100);
      }, CELL_MS);
    }
  }
});
