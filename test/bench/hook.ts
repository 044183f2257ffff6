// npm run bench (hook part): how soon a pushed release serves when CI calls the signed hook,
// against `agentctl check` (what a schedule tick runs). One daemon on the local Engine and
// registry, the app's schedule yearly so only the call under test deploys; rounds alternate hook
// and check, each pushing a new digest first. Prints per round and as medians: the time from the
// call to the deploy's start, and to its confirmed switch (green serving).
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { agentctl, agentYaml, deployHistory, makeAgentDir, removeDir, settledDeploy, startAgent, storyApp, waitFor, writeConfig } from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { freePort, httpCall, signedHeaders } from "../support/hook-client.js";
import { publishVersion, testRunId } from "../support/images.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECRET = "bench-hook-secret";
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const fmt = (msValue: number) => `${(msValue / 1000).toFixed(3)}s`;

const run = testRunId();
const app = `hh-bench-${run}`;
const repo = `bench/${app}`;
const dir = makeAgentDir("hh-bench-");
const secretFile = join(dir, "hook.secret");
writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
const port = await freePort();
writeConfig(
  dir,
  agentYaml(dir, storyApp(app, `127.0.0.1:5000/${repo}`, run, { schedule: "0 0 1 1 *" })) + `http: { listen: "127.0.0.1:${port}", hookSecretFile: ${secretFile} }\n`,
);
await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v0" });
const agent = await startAgent(dir);
const rows: { path: string; toStart: number; toServing: number }[] = [];
try {
  await settledDeploy(agent, app, 120_000);
  for (let i = 1; i <= 2 * ROUNDS; i++) {
    const path = i % 2 === 1 ? "hook" : "check";
    await publishVersion({ repo, tag: "latest", behaviour: "good", version: `v${i}` });
    const known = (await deployHistory(agent, app)).length;
    const t0 = Date.now();
    if (path === "hook") {
      const body = JSON.stringify({ round: i });
      const answer = await httpCall(port, "POST", `/hooks/${app}`, body, signedHeaders(SECRET, body));
      if (answer.status !== 202) throw new Error(`hook answered ${answer.status}: ${answer.text}`);
    } else {
      const r = await agentctl(agent, ["check", app]);
      if (r.code !== 0) throw new Error(`agentctl check exited with ${r.code}: ${r.stderr}`);
    }
    const rec = await waitFor(`the ${path}'s deploy of v${i}`, async () => {
      const h = await deployHistory(agent, app);
      return h.length > known && h[0]!.outcome !== "running" ? h[0]! : undefined;
    }, 120_000, 100);
    if (rec.outcome !== "succeeded") throw new Error(`the deploy of v${i} ended ${rec.outcome}`);
    const confirm = rec.steps.find((s) => s.name === "confirm")?.endedAt;
    if (confirm === undefined) throw new Error(`the deploy of v${i} has no confirmed switch`);
    rows.push({ path, toStart: Date.parse(rec.startedAt) - t0, toServing: Date.parse(confirm) - t0 });
  }
  console.log("\nhook against check: from the call to the deploy's start, and to the new release serving (switch confirmed)");
  console.log("round  path   to-start  to-serving");
  rows.forEach((r, i) => console.log(`${String(i + 1).padEnd(7)}${r.path.padEnd(7)}${fmt(r.toStart).padEnd(10)}${fmt(r.toServing)}`));
  for (const path of ["hook", "check"]) {
    const mine = rows.filter((r) => r.path === path);
    console.log(`median ${path}: to-start ${fmt(median(mine.map((r) => r.toStart)))}, to-serving ${fmt(median(mine.map((r) => r.toServing)))} (${mine.length} runs)`);
  }
  console.log("a scheduled poll adds the wait for its tick: half the schedule's period on average (2.5 min with the default */5)");
} finally {
  await agent.stop();
  await cleanupTestRun();
  removeDir(dir);
}
