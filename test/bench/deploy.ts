// npm run bench: v1 → v2 deploys of the test image on the local engine and registry (set up by
// test/env/ensure.sh), through the real daemon and agentctl, judged through the Traefik model.
// Prints, per deploy and as medians: time from deploy start to green serving, the agent's own
// overhead, failed requests, and the daemon's idle RSS, beside what node alone and node with the
// agent's libraries loaded take on the same machine (the floor under that RSS).
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Dockerode from "dockerode";
import { agentctl, agentYaml, get, makeAgentDir, readState, removeDir, rssMb, requestLoop, sleep, startAgent, storyApp, waitFor, writeConfig } from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { publishVersion, testRunId } from "../support/images.js";
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

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "../../..");

/**
 * RSS of a node process that runs `script` (an ES module, from the checkout) and then idles for 3 s,
 * read after 2.5 s: what the runtime costs before the agent does anything.
 */
async function idleNodeRss(script: string): Promise<{ rss: number; anon: number }> {
  const child = spawn(process.execPath, ["--input-type=module", "-e", `${script}\nsetTimeout(() => {}, 3000);`], { cwd: ROOT, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((res) => child.on("exit", (code) => res(code)));
  await sleep(2500);
  if (child.exitCode !== null) throw new Error(`node -e exited with ${child.exitCode} before it was measured: ${stderr}`);
  const rss = rssMb(child.pid!);
  const code = await exited;
  if (code !== 0) throw new Error(`node -e exited with ${code}: ${stderr}`);
  return rss;
}

/** The runtime libraries as the daemon loads them (dockerode through the agent, without ssh2 and gRPC). */
const LOAD_LIBRARIES = [
  `const { loadDockerode } = await import("./dist/agent/docker/engine.js"); loadDockerode();`,
  ...["undici", "pino", "zod", "node-cron", "yaml", "semver"].map((m) => `await import("${m}");`),
].join(" ");

/**
 * Docker's own view of green's time to healthy: its `health_status: healthy` event minus its start
 * (the health log keeps only the last five results, so it cannot tell when the first one passed).
 */
async function greenTimes(docker: Dockerode, name: string, sinceMs: number, startStepAt: number): Promise<{ engineStart: number; healthy: number }> {
  const info = await docker.getContainer(name).inspect();
  const stream = (await docker.getEvents({
    since: Math.floor(sinceMs / 1000) - 1,
    until: Math.ceil(Date.now() / 1000),
    filters: { container: [info.Id], event: ["health_status"] },
  })) as NodeJS.ReadableStream;
  let text = "";
  for await (const chunk of stream) text += chunk.toString();
  const healthy = text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as { Action: string; timeNano: number })
    .find((e) => e.Action === "health_status: healthy");
  if (!healthy) throw new Error(`no health_status: healthy event for ${name}`);
  const startedAt = ms(info.State.StartedAt);
  // The Engine sets up green's network and process before StartedAt: its time, not the agent's.
  return { engineStart: startedAt - startStepAt, healthy: healthy.timeNano / 1e6 - startedAt };
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
    agentYaml(dir, storyApp(app, `127.0.0.1:5000/${repo}`, run, { schedule: "0 0 1 1 *", drain: "2s", settle: "3s", network: `da-net-${run}` })),
  );
  const traefik = await startTraefikModel({ docker });
  const agent = await (async () => {
    await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v1" });
    return startAgent(dir);
  })();
  const steps: Record<string, number[]> = {};
  const rows: { serving: number; overhead: number; engineStart: number; pull: number; healthy: number; settle: number; total: number; failed: number; ok: number }[] = [];
  try {
    await waitFor("v1 to serve", async () => (await get(traefik.url, host).catch(() => undefined))?.body === "v1", 60_000);
    const idle = () =>
      waitFor("no deploy running", () => {
        const st = readState(agent) as { apps: Record<string, { history: Rec[] }> };
        return st.apps[app]?.history[0]?.outcome !== "running";
      });
    for (let i = 2; i <= ROUNDS + 1; i++) {
      await idle();
      const version = `v${i}`;
      await publishVersion({ repo, tag: "latest", behaviour: "good", version });
      const loop = requestLoop(traefik.url, host, 5);
      await sleep(300);
      const r = await agentctl(agent, ["check", app], { json: true });
      const result = (r.json as { result: string }[] | undefined)?.[0]?.result;
      if (r.code !== 0 || result !== "deployed") throw new Error(`agentctl check did not deploy ${version} (${result}): ${r.stderr}`);
      await sleep(300);
      const seen = await loop.stop();
      const state = readState(agent) as { apps: Record<string, { history: Rec[]; live: { slot: string } }> };
      const rec = state.apps[app]!.history[0]!;
      if (rec.outcome !== "succeeded") throw new Error(`deploy ${rec.id} ${rec.outcome}`);
      for (const st of rec.steps) (steps[st.name] ??= []).push(stepMs(rec, st.name));
      const firstServed = seen.bodies.find((b) => b.body === version)?.at;
      if (firstServed === undefined) throw new Error(`${version} never answered`);
      const green = `${app}-${state.apps[app]!.live.slot}`;
      const { engineStart, healthy } = await greenTimes(docker, green, ms(rec.startedAt), ms(rec.steps.find((x) => x.name === "start")!.startedAt));
      const confirmEnd = ms(rec.steps.find((s) => s.name === "confirm")!.endedAt!);
      const pull = stepMs(rec, "pull");
      const settle = stepMs(rec, "confirm");
      rows.push({
        serving: firstServed - ms(rec.startedAt),
        // Everything up to the confirmed switch that is neither the pull, nor green's own start-up, nor the settle wait.
        overhead: confirmEnd - ms(rec.startedAt) - pull - engineStart - healthy - settle,
        engineStart,
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
    console.log("deploy  to-serving  overhead  pull     engine-start  green-healthy  settle   whole-deploy  requests  failed");
    rows.forEach((r, i) =>
      console.log(
        `${String(i + 1).padEnd(8)}${fmt(r.serving).padEnd(12)}${fmt(r.overhead).padEnd(10)}${fmt(r.pull).padEnd(9)}${fmt(r.engineStart).padEnd(14)}${fmt(r.healthy).padEnd(15)}${fmt(r.settle).padEnd(9)}${fmt(r.total).padEnd(14)}${String(r.ok).padEnd(10)}${r.failed}`,
      ),
    );
    console.log(`median per step: ${Object.entries(steps).map(([k, v]) => `${k} ${fmt(median(v))}`).join(", ")}`);
    console.log(
      `median: to-serving ${fmt(median(rows.map((r) => r.serving)))}, overhead ${fmt(median(rows.map((r) => r.overhead)))} (target ≤ 0.300s), ` +
        `failed requests ${rows.reduce((a, r) => a + r.failed, 0)} (target 0), idle RSS ${idleRss.rss.toFixed(1)} MB (target ≤ 60 MB), of which private ${idleRss.anon.toFixed(1)} MB and the rest the node executable's shared pages`,
    );
    const bare = await idleNodeRss("");
    const libs = await idleNodeRss(LOAD_LIBRARIES);
    const mb = (x: { rss: number; anon: number }) => `${x.rss.toFixed(1)} MB (private ${x.anon.toFixed(1)} MB)`;
    console.log(
      `RSS floor on this machine (${process.version}): node alone idles at ${mb(bare)}; node with the agent's runtime libraries loaded ` +
        `(dockerode as the agent loads it, undici, pino, zod, node-cron, yaml, semver) and nothing run: ${mb(libs)}; the daemon idle: ${mb(idleRss)}`,
    );
  } finally {
    await agent.stop();
    await traefik.close();
    await cleanupTestRun();
    removeDir(dir);
  }
}

await main();
