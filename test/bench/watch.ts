// npm run bench, the watch after the switch: a release deployed with `watch` set is made to fail
// (turn unhealthy, or exit) during the watch, and the agent rolls back by itself. Measured through
// the Traefik model, per run and as median and max: the time from the new release's failure (the
// Engine's event time) to the previous release serving again, and the requests that failed in
// that window (a request loop, one at a time, 5 ms apart). Any failed request outside the window
// fails the bench.
import Dockerode from "dockerode";
import { agentctl, agentYaml, appStatus, deployHistory, makeAgentDir, removeDir, requestLoop, startAgent, storyApp, waitFor, writeConfig } from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { exitRelease, failHealth, faultyRelease, nextEvent } from "../support/container-faults.js";
import { publishVersion, testRunId } from "../support/images.js";
import { startTraefikModel, type TraefikModel } from "../support/traefik-model.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const KINDS = ["unhealthy", "exits"] as const;
type Kind = (typeof KINDS)[number];

interface Row {
  kind: Kind;
  /** From the Engine's event of green's failure to the routing model sending requests to blue. */
  backMs: number;
  failedInWindow: number;
  failedOutside: number;
  ok: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function oneRun(ctx: { agent: Awaited<ReturnType<typeof startAgent>>; traefik: TraefikModel; docker: Dockerode; app: string; repo: string }, kind: Kind, i: number): Promise<Row> {
  const { agent, traefik, docker, app, repo } = ctx;
  const host = `${app}.test`;
  const digest = await faultyRelease(repo, "v1", ["latest"], `bench-${kind}-${i}`);
  const r = await agentctl(agent, ["check", app], { json: true });
  if (r.code !== 0) throw new Error(`agentctl check did not deploy the ${kind} release: ${r.stderr}`);
  const st = await appStatus(agent, app);
  if (st.live?.digest !== digest || !st.watch) throw new Error(`the ${kind} release is not live under a watch: ${JSON.stringify(st.live)}`);
  const green = `${app}-${st.live.slot}`;
  const blue = `${app}-${st.live.slot === "blue" ? "green" : "blue"}`;
  await traefik.waitForServing(host, green, 10_000);

  const loop = requestLoop(traefik.url, host, 5);
  const watching = new AbortController();
  const failed = nextEvent(docker, green, kind === "unhealthy" ? "health_status" : "die", watching.signal);
  await new Promise((res) => setTimeout(res, 300));
  if (kind === "unhealthy") await failHealth(docker, green);
  else await exitRelease(docker, green);
  const failedAt = await failed;
  const backAt = await waitFor("the previous release to serve again", () => (traefik.servingContainer(host) === blue ? Date.now() : undefined), 60_000, 5);
  await waitFor("the record to say rolled-back", async () => (await deployHistory(agent, app)).find((h) => h.digest === digest)?.outcome === "rolled-back", 60_000);
  await new Promise((res) => setTimeout(res, 300));
  const seen = await loop.stop();
  watching.abort();
  // A request started just before an exit is cut by it: the window opens 1 s before the event.
  const inWindow = seen.failed.filter((f) => f.at >= failedAt - 1000 && f.at <= backAt);
  return { kind, backMs: backAt - failedAt, failedInWindow: inWindow.length, failedOutside: seen.failed.length - inWindow.length, ok: seen.ok };
}

async function main(): Promise<void> {
  const run = testRunId();
  const app = `n9w-bench-${run}`;
  const repo = `bench/${app}`;
  const docker = new Dockerode();
  const dir = makeAgentDir("n9w-bench-");
  writeConfig(dir, agentYaml(dir, `${storyApp(app, `127.0.0.1:5000/${repo}`, run, { schedule: "0 0 1 1 *", network: `da-net-${app}` })}\n    watch: 5m`));
  const traefik = await startTraefikModel({ docker });
  await publishVersion({ repo, tag: "v1", behaviour: "good", version: "v1" });
  await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v1" });
  const agent = await startAgent(dir);
  const rows: Row[] = [];
  try {
    const live = await waitFor("v1 to be live", async () => (await appStatus(agent, app)).live, 60_000);
    await traefik.waitForServing(`${app}.test`, `${app}-${live.slot}`, 30_000);
    for (let i = 0; i < ROUNDS; i++) {
      for (const kind of KINDS) {
        const row = await oneRun({ agent, traefik, docker, app, repo }, kind, i);
        rows.push(row);
        console.log(`${kind.padEnd(9)} failure → previous release serving ${String(row.backMs).padStart(6)} ms, failed requests in that window ${row.failedInWindow} (of ${row.ok + row.failedInWindow}), outside it ${row.failedOutside}`);
      }
    }
  } finally {
    await agent.stop();
    await traefik.close();
    await cleanupTestRun();
    removeDir(dir);
  }
  for (const kind of KINDS) {
    const of = rows.filter((r) => r.kind === kind);
    const back = of.map((r) => r.backMs);
    const failed = of.map((r) => r.failedInWindow);
    console.log(`watch rollback, ${kind}: failure → previous release serving median ${median(back)} ms, max ${Math.max(...back)} ms; failed requests in the window median ${median(failed)}, max ${Math.max(...failed)} (${of.length} runs)`);
  }
  const outside = rows.reduce((n, r) => n + r.failedOutside, 0);
  if (outside > 0) throw new Error(`${outside} request(s) failed outside the window between the failure and the previous release serving`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
