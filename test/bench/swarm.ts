// node dist/test/bench/swarm.js: how much slower a `backend: swarm` deploy is than a `backend:
// container` one, and whether either fails a request. One private dockerd made a Swarm manager, one
// agent, and apps of the same fixture image with the default health settings: one container app (a
// bridge network, routed through the Traefik model) and one Swarm app per replica count (an overlay
// network each, routed through the Swarm routing model: Traefik's 15 s refresh, lbswarm, the virtual
// IP from task state). Per round each app in turn gets `agentctl deploy <app> vK` under a request
// loop; the bench measures the time from the command's start until every answer is vK (the model
// serves only the new release), the deploy's own duration from its record, and failed requests.
// BENCH_ROUNDS (default 3) rounds; BENCH_SWARM_REPLICAS (default "1,2") the Swarm apps' replicas.
import { agentctl, deployHistory, deploysSaid, makeAgentDir, readState, removeDir, requestLoop, sleep, startAgent, writeConfig, type AgentProcess } from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { publishVersion, TEST_REGISTRY, TEST_RUN_LABEL, testRunId, type PublishedImage } from "../support/images.js";
import { startPrivateDockerd, type PrivateDockerd } from "../support/private-dockerd.js";
import { startSwarmRoutingModel, type SwarmRoutingModel } from "../support/swarm-routing-model.js";
import { startTraefikModel, type TraefikModel } from "../support/traefik-model.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const REPLICAS = (process.env.BENCH_SWARM_REPLICAS ?? "1,2").split(",").filter((s) => s.trim() !== "").map(Number);
/** The defaults of health.startTimeout and health.interval (agent/config/schema.ts), as a real app has them. */
const START_TIMEOUT_S = 60;
const INTERVAL_S = 1;
/** docs/design.md "The monitor period": startTimeout plus three intervals. */
const MONITOR_S = START_TIMEOUT_S + 3 * INTERVAL_S;
const HEALTH_COMMAND = "wget -q -O /dev/null http://127.0.0.1:8000/health";
/** Longest a deploy may take here: the Swarm ones wait the monitor period after each update. */
const DEPLOY_DEADLINE_MS = 5 * 60_000;

interface Bench {
  name: string;
  label: string;
  replicas?: number;
  host: string;
}

interface Row {
  /** From `agentctl deploy` until every answer is the new version. */
  allTrafficMs: number;
  /** The deploy record's startedAt to endedAt. */
  deployMs: number;
  /** From all traffic on the new release until the record's end. */
  tailMs: number;
  failed: number;
  ok: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const fmt = (x: number) => `${(x / 1000).toFixed(1)}s`;

function appYaml(b: Bench, image: string, run: string): string {
  const swarm = b.replicas === undefined ? "" : `\n    backend: swarm\n    replicas: ${b.replicas}`;
  return `
  ${b.name}:
    image: ${image}${swarm}
    track: latest
    schedule: "0 0 1 1 *"
    port: 8000
    health: { path: /health, command: "${HEALTH_COMMAND}" }
    route: { rule: "Host(\`${b.host}\`)", network: ${b.name}-net }
    labels: { ${TEST_RUN_LABEL}: "${run}" }`;
}

/** When the answers turned to `version` for good: the first such answer after the last other answer or failure. */
function allNewAt(result: Awaited<ReturnType<ReturnType<typeof requestLoop>["stop"]>>, version: string): number | undefined {
  let lastOther = -Infinity;
  for (const b of result.bodies) if (b.body.trim() !== version) lastOther = Math.max(lastOther, b.at);
  for (const f of result.failed) lastOther = Math.max(lastOther, f.at);
  return result.bodies.find((b) => b.at > lastOther && b.body.trim() === version)?.at;
}

async function deployUnderLoad(agent: AgentProcess, b: Bench, release: PublishedImage, version: string, traefik: TraefikModel, swarmModel: SwarmRoutingModel): Promise<Row> {
  const url = b.replicas === undefined ? traefik.url : swarmModel.url;
  const loop = requestLoop(url, b.host);
  let result: Awaited<ReturnType<typeof loop.stop>>;
  const startedAt = Date.now();
  try {
    const out = await agentctl(agent, ["deploy", b.name, version]);
    if (out.code !== 0) throw new Error(`agentctl deploy ${b.name} ${version} exited ${out.code}:\n${out.stdout}${out.stderr}\n${await deploysSaid(agent, b.name)}`);
    await servesOnly(agent, b, release, traefik, swarmModel);
    await sleep(1000);
  } finally {
    result = await loop.stop();
  }
  const rec = (await deployHistory(agent, b.name))[0];
  if (!rec || rec.outcome !== "succeeded" || rec.digest !== release.digest || !rec.endedAt) throw new Error(`${b.name}'s newest deploy is not a finished one of ${version}:\n${await deploysSaid(agent, b.name)}`);
  const at = allNewAt(result, version);
  if (at === undefined) throw new Error(`${b.name}: no answer was ${version} after the last other one; last answers: ${JSON.stringify(result.bodies.slice(-3))}`);
  const endedAt = Date.parse(rec.endedAt);
  return { allTrafficMs: at - startedAt, deployMs: endedAt - Date.parse(rec.startedAt), tailMs: endedAt - at, failed: result.failed.length, ok: result.ok };
}

/** Waits until the app's model serves only `release`: the live slot's container, or tasks all on its digest. */
async function servesOnly(agent: AgentProcess, b: Bench, release: PublishedImage, traefik: TraefikModel, swarmModel: SwarmRoutingModel): Promise<void> {
  if (b.replicas === undefined) {
    const live = (readState(agent) as { apps: Record<string, { live?: { slot?: string } }> }).apps[b.name]?.live;
    await traefik.waitForServing(b.host, `${b.name}-${live?.slot}`, 30_000);
  } else {
    const ref = `${release.image}@${release.digest}`;
    await swarmModel.waitForServing(b.host, (tasks) => tasks.length === b.replicas && tasks.every((t) => t.image === ref), 30_000);
  }
}

async function main(): Promise<void> {
  const run = testRunId();
  const repo = `bench/swarm-${run}`;
  const image = `${TEST_REGISTRY}/${repo}`;
  const benches: Bench[] = [
    { name: `bsc-${run}`, label: "container" },
    ...REPLICAS.map((n) => ({ name: `bs${n}-${run}`, label: `swarm×${n}`, replicas: n })),
  ].map((b) => ({ ...b, host: `${b.name}.test` }));
  const dir = makeAgentDir("da-bench-swarm-");
  let dockerd: PrivateDockerd | undefined;
  let agent: AgentProcess | undefined;
  let traefik: TraefikModel | undefined;
  let swarmModel: SwarmRoutingModel | undefined;
  try {
    dockerd = await startPrivateDockerd("bsb");
    const docker = dockerd.docker;
    await docker.swarmInit({ ListenAddr: "127.0.0.1:2377", AdvertiseAddr: "127.0.0.1" });
    writeConfig(dir, `state: ${dir}/state.json\nsocket: ${dir}/agent.sock\ndocker: { socket: ${dockerd.socketPath} }\napps:${benches.map((b) => appYaml(b, image, run)).join("")}\n`);
    const releases: PublishedImage[] = [];
    for (let k = 1; k <= ROUNDS + 1; k++) releases.push(await publishVersion({ repo, tag: `v${k}`, behaviour: "good", version: `v${k}` }));
    traefik = await startTraefikModel({ docker });
    swarmModel = await startSwarmRoutingModel({ docker });
    agent = await startAgent(dir);
    for (const b of benches) {
      const out = await agentctl(agent, ["deploy", b.name, "v1"]);
      if (out.code !== 0) throw new Error(`agentctl deploy ${b.name} v1 exited ${out.code}:\n${out.stdout}${out.stderr}`);
    }
    // Traefik's Swarm provider lists a new service at its next refresh, 15 s at most.
    for (const b of benches) await servesOnly(agent, b, releases[0]!, traefik, swarmModel);
    const rows = new Map<string, Row[]>(benches.map((b) => [b.name, []]));
    for (let k = 2; k <= ROUNDS + 1; k++) {
      for (const b of benches) {
        const row = await deployUnderLoad(agent, b, releases[k - 1]!, `v${k}`, traefik, swarmModel);
        rows.get(b.name)!.push(row);
        console.log(`round ${k - 1} ${b.label}: all traffic on v${k} after ${fmt(row.allTrafficMs)}, deploy ${fmt(row.deployMs)}, ${row.failed} of ${row.ok + row.failed} requests failed`);
      }
    }
    const col = (b: Bench, f: (r: Row) => number) => fmt(median(rows.get(b.name)!.map(f)));
    console.log(`\ndeploy-agent swarm bench: ${ROUNDS} rounds of agentctl deploy <app> vK, same image; health defaults (startTimeout ${START_TIMEOUT_S}s, interval ${INTERVAL_S}s, Docker health check "${HEALTH_COMMAND}"), so the Swarm update's monitor is ${MONITOR_S}s; container app drain 10s, settle 3s; stopTimeout 15s for both`);
    console.log(`medians:         ${benches.map((b) => b.label.padEnd(12)).join("")}`);
    console.log(`all traffic      ${benches.map((b) => col(b, (r) => r.allTrafficMs).padEnd(12)).join("")}`);
    console.log(`deploy (record)  ${benches.map((b) => col(b, (r) => r.deployMs).padEnd(12)).join("")}`);
    console.log(`after traffic    ${benches.map((b) => col(b, (r) => r.tailMs).padEnd(12)).join("")}`);
    console.log(`failed requests  ${benches.map((b) => `${rows.get(b.name)!.reduce((n, r) => n + r.failed, 0)}/${rows.get(b.name)!.reduce((n, r) => n + r.ok + r.failed, 0)}`.padEnd(12)).join("")}  (all rounds)`);
    console.log(
      `Swarm replaces one task at a time (start-first: each new task started and healthy before its old one stops), then watches the last one for the monitor period (${MONITOR_S}s) before the update is completed: the deploy's time "after traffic". The container deploy's is the rest of its settle (3s, while Traefik takes the new container), its drain (10s) and the old container's stop.`,
    );
  } finally {
    await agent?.stop();
    await traefik?.close();
    await swarmModel?.close();
    if (dockerd) {
      await dockerd.docker.swarmLeave({ force: true }).catch(() => undefined);
      await dockerd.close();
    }
    await cleanupTestRun();
    removeDir(dir);
  }
}

await main();
