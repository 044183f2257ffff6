// node dist/test/bench/roles.js: what a role (a worker) adds to a deploy beyond its own start-up.
// One daemon, two apps from the same test image, deployed in turn: `plain` (web only) and `roles`
// (web and a worker whose health command passes as soon as it runs). Per round it prints how much
// longer the roles deploy's create and start steps took than the plain one's, and how much of that
// is the worker's own time (from the start step to Docker's `health_status: healthy` of the worker:
// the Engine starting it and its health check passing); the rest is the agent's overhead.
import Dockerode from "dockerode";
import { agentctl, agentYaml, makeAgentDir, readState, removeDir, sleep, startAgent, storyApp, waitFor, writeConfig } from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { publishVersion, testRunId } from "../support/images.js";
import { startTraefikModel } from "../support/traefik-model.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WORKER = `["sh", "-c", "mkdir -p /tmp; touch /tmp/worker-alive; while true; do sleep 1; done"]`;

interface Rec {
  outcome: string;
  steps: { name: string; startedAt: string; endedAt?: string }[];
}

const ms = (iso: string) => Date.parse(iso);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const fmt = (x: number) => `${(x / 1000).toFixed(3)}s`;

function stepMs(r: Rec, name: string): number {
  const s = r.steps.find((x) => x.name === name);
  return s?.endedAt ? ms(s.endedAt) - ms(s.startedAt) : NaN;
}

/** When Docker called the container healthy (ms since the epoch), from its events since `sinceMs`. */
async function healthyAt(docker: Dockerode, name: string, sinceMs: number): Promise<number> {
  const info = await docker.getContainer(name).inspect();
  const stream = (await docker.getEvents({ since: Math.floor(sinceMs / 1000) - 1, until: Math.ceil(Date.now() / 1000), filters: { container: [info.Id], event: ["health_status"] } })) as NodeJS.ReadableStream;
  let text = "";
  for await (const chunk of stream) text += chunk.toString();
  const e = text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as { Action: string; timeNano: number }).find((x) => x.Action === "health_status: healthy");
  if (!e) throw new Error(`no health_status: healthy event for ${name}`);
  return e.timeNano / 1e6;
}

async function main(): Promise<void> {
  const run = testRunId();
  const plain = `bench-plain-${run}`;
  const roled = `bench-roles-${run}`;
  const docker = new Dockerode();
  const dir = makeAgentDir("da-bench-roles-");
  const opts = { schedule: "0 0 1 1 *", drain: "1s", settle: "1s" };
  const roles = `\n    roles:\n      worker: { command: ${WORKER}, health: { command: "test -f /tmp/worker-alive", startTimeout: 30s, interval: 100ms } }`;
  writeConfig(dir, agentYaml(dir, storyApp(plain, `127.0.0.1:5000/bench/${plain}`, run, opts), storyApp(roled, `127.0.0.1:5000/bench/${roled}`, run, opts) + roles));
  const traefik = await startTraefikModel({ docker });
  for (const app of [plain, roled]) await publishVersion({ repo: `bench/${app}`, tag: "latest", behaviour: "good", version: "v1" });
  const agent = await startAgent(dir);
  const newest = (app: string) => (readState(agent) as { apps: Record<string, { history: Rec[]; live?: { slot: string } }> }).apps[app];
  const rows: { create: number; start: number; workerOwn: number; stop: number }[] = [];
  try {
    for (const app of [plain, roled]) await waitFor(`${app} v1 to be live`, () => newest(app)?.live !== undefined && newest(app)?.history[0]?.outcome === "succeeded", 90_000);
    for (let i = 2; i <= ROUNDS + 1; i++) {
      const recs: Record<string, Rec> = {};
      for (const app of [plain, roled]) {
        await publishVersion({ repo: `bench/${app}`, tag: "latest", behaviour: "good", version: `v${i}` });
        const r = await agentctl(agent, ["check", app], { json: true });
        if (r.code !== 0) throw new Error(`agentctl check ${app}: ${r.stderr}`);
        const rec = newest(app)!.history[0]!;
        if (rec.outcome !== "succeeded") throw new Error(`deploy of ${app} ${rec.outcome}`);
        recs[app] = rec;
        await sleep(500);
      }
      const p = recs[plain]!;
      const r = recs[roled]!;
      const startAt = ms(r.steps.find((s) => s.name === "start")!.startedAt);
      const worker = `${roled}-worker-${newest(roled)!.live!.slot}`;
      const workerOwn = (await healthyAt(docker, worker, startAt)) - startAt;
      rows.push({ create: stepMs(r, "create") - stepMs(p, "create"), start: stepMs(r, "start") - stepMs(p, "start"), workerOwn, stop: stepMs(r, "stop") - stepMs(p, "stop") });
    }
    console.log(`deploy-agent roles bench: ${ROUNDS} rounds, each a deploy of web alone and of web with one worker (health command), same image`);
    console.log("round  +create   +start    worker-own  agent-overhead  +stop");
    rows.forEach((x, i) => console.log(`${String(i + 1).padEnd(7)}${fmt(x.create).padEnd(10)}${fmt(x.start).padEnd(10)}${fmt(x.workerOwn).padEnd(12)}${fmt(x.create + x.start - x.workerOwn).padEnd(16)}${fmt(x.stop)}`));
    console.log(
      `median: a worker adds ${fmt(median(rows.map((x) => x.create + x.start)))} to create and start, of which ${fmt(median(rows.map((x) => x.workerOwn)))} is the worker's own start-up (Engine start and first passing health check); agent overhead ${fmt(median(rows.map((x) => x.create + x.start - x.workerOwn)))}; the stop step takes ${fmt(median(rows.map((x) => x.stop)))} more (stopping the old worker)`,
    );
  } finally {
    await agent.stop();
    await traefik.close();
    await cleanupTestRun();
    removeDir(dir);
  }
}

await main();
