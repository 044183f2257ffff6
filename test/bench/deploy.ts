// npm run bench: v1 → v2 deploys of the test image on the local engine and registry (set up by
// test/env/ensure.sh), through the real daemon and agentctl, judged through the Traefik model.
// Prints, per deploy and as medians: time from deploy start to green serving, the agent's own
// overhead, failed requests, and the daemon's idle RSS.
import { readFileSync } from "node:fs";
import Dockerode from "dockerode";
import { agentctl, get, makeAgentDir, readState, removeDir, requestLoop, sleep, startAgent, waitFor, writeConfig } from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { TEST_RUN_LABEL, publishVersion, testRunId } from "../support/images.js";
import { startTraefikModel } from "../support/traefik-model.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

interface StepRec {
  name: string;
  startedAt: string;
  endedAt?: string;
}
interface Rec {
  id: string;
  version: string;
  outcome: string;
  startedAt: string;
  steps: StepRec[];
}

const ms = (iso: string) => Date.parse(iso);
const stepMs = (r: Rec, name: string) => {
  const s = r.steps.find((x) => x.name === name);
  return s?.endedAt ? ms(s.endedAt) - ms(s.startedAt) : 0;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Docker's own view of green's time to healthy: its first passing check's end, minus its start. */
async function greenTimeToHealthy(docker: Dockerode, name: string): Promise<number> {
  const info = await docker.getContainer(name).inspect();
  const first = info.State.Health?.Log?.find((l) => l.ExitCode === 0);
  if (!first) throw new Error(`${name} has no passing health check in its log`);
  return ms(first.End) - ms(info.State.StartedAt);
}

async function main(): Promise<void> {
  const run = testRunId();
  const app = `bench-${run}`;
  const repo = `bench/${app}`;
  const host = `${app}.test`;
  const docker = new Dockerode();
  const dir = makeAgentDir("da-bench-");
  writeConfig(
    dir,
    `state: ${dir}/state.json
socket: ${dir}/agent.sock
apps:
  ${app}:
    image: 127.0.0.1:5000/${repo}
    schedule: "0 0 1 1 *"
    port: 8000
    health: { path: /health, startTimeout: 30s }
    route: { rule: "Host(\`${host}\`)", network: "da-net-${run}" }
    drain: 2s
    settle: 3s
    stopTimeout: 5s
    labels: { ${TEST_RUN_LABEL}: "${run}" }
`,
  );
  const traefik = await startTraefikModel({ docker });
  const agent = await (async () => {
    await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v1" });
    return startAgent(dir);
  })();
  const rows: { serving: number; overhead: number; pull: number; healthy: number; settle: number; total: number; failed: number; ok: number }[] = [];
  try {
    await waitFor("v1 to serve", async () => (await get(traefik.url, host).catch(() => undefined))?.body === "v1", 60_000);
    for (let i = 2; i <= ROUNDS + 1; i++) {
      const version = `v${i}`;
      await publishVersion({ repo, tag: "latest", behaviour: "good", version });
      const loop = requestLoop(traefik.url, host, 5);
      await sleep(300);
      const r = await agentctl(agent, ["check", app], { json: true });
      if (r.code !== 0) throw new Error(`agentctl check failed: ${r.stderr}`);
      await sleep(300);
      const seen = await loop.stop();
      const state = readState(agent) as { apps: Record<string, { history: Rec[]; live: { slot: string } }> };
      const rec = state.apps[app]!.history[0]!;
      if (rec.outcome !== "succeeded") throw new Error(`deploy ${rec.id} ${rec.outcome}`);
      const firstServed = seen.bodies.find((b) => b.body === version)?.at;
      if (firstServed === undefined) throw new Error(`${version} never answered`);
      const green = `${app}-${state.apps[app]!.live.slot}`;
      const healthy = await greenTimeToHealthy(docker, green);
      const confirmEnd = ms(rec.steps.find((s) => s.name === "confirm")!.endedAt!);
      const pull = stepMs(rec, "pull");
      const settle = stepMs(rec, "confirm");
      rows.push({
        serving: firstServed - ms(rec.startedAt),
        // Everything up to the confirmed switch that is neither the pull, nor green's own start-up, nor the settle wait.
        overhead: confirmEnd - ms(rec.startedAt) - pull - healthy - settle,
        pull,
        healthy,
        settle,
        total: ms(rec.steps.at(-1)!.endedAt!) - ms(rec.startedAt),
        failed: seen.failed.length,
        ok: seen.ok,
      });
    }
    await sleep(5_000);
    const idleRss = rssMb(agent.child.pid!);
    const fmt = (x: number) => `${(x / 1000).toFixed(3)}s`;
    console.log(`deploy-agent bench: ${ROUNDS} deploys vN → vN+1 of the busybox test image (local engine and registry)`);
    console.log("deploy  to-serving  overhead  pull     green-healthy  settle   whole-deploy  requests  failed");
    rows.forEach((r, i) =>
      console.log(
        `${String(i + 1).padEnd(8)}${fmt(r.serving).padEnd(12)}${fmt(r.overhead).padEnd(10)}${fmt(r.pull).padEnd(9)}${fmt(r.healthy).padEnd(15)}${fmt(r.settle).padEnd(9)}${fmt(r.total).padEnd(14)}${String(r.ok).padEnd(10)}${r.failed}`,
      ),
    );
    console.log(
      `median: to-serving ${fmt(median(rows.map((r) => r.serving)))}, overhead ${fmt(median(rows.map((r) => r.overhead)))} (target ≤ 0.300s), ` +
        `failed requests ${rows.reduce((a, r) => a + r.failed, 0)} (target 0), idle RSS ${idleRss.toFixed(1)} MB (target ≤ 60 MB)`,
    );
  } finally {
    await agent.stop();
    await traefik.close();
    await cleanupTestRun();
    removeDir(dir);
  }
}

await main();
