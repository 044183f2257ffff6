// npm run bench (part): what `predeploy` adds to a deploy beyond its command's own run time. One
// daemon deploys the same releases to two apps that differ only in `predeploy: { command: ["true"] }`
// and prints, as medians: the predeploy step's time minus the command's run time as the Engine
// reports it (State.StartedAt to FinishedAt), and the whole deploy's difference between the two
// apps (pull left out: whichever app deploys a release second finds its image on the host).
import { agentctl, agentYaml, deployHistory, makeAgentDir, removeDir, startAgent, storyApp, writeConfig } from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { publishVersion, testRunId } from "../support/images.js";
import type { DeployRecord } from "../../agent/state/schema.js";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const stepMs = (r: DeployRecord, name: string) => {
  const s = r.steps.find((x) => x.name === name);
  return s?.endedAt ? Date.parse(s.endedAt) - Date.parse(s.startedAt) : 0;
};
/** The whole deploy without its pull. */
const deployMs = (r: DeployRecord) => Date.parse(r.steps.at(-1)!.endedAt!) - Date.parse(r.startedAt) - stepMs(r, "pull");
const fmt = (x: number) => `${(x / 1000).toFixed(3)}s`;

async function main(): Promise<void> {
  const run = testRunId();
  const plain = `bench-plain-${run}`;
  const pre = `bench-pre-${run}`;
  const repo = `bench/steps-${run}`;
  const image = `127.0.0.1:5000/${repo}`;
  const dir = makeAgentDir("da-bench-steps-");
  const app = (name: string) => storyApp(name, image, run, { schedule: "0 0 1 1 *", drain: "1s", settle: "1s", network: `da-net-${name}` });
  writeConfig(dir, agentYaml(dir, app(plain), `${app(pre)}\n    predeploy: { command: ["true"] }`));
  const agent = await startAgent(dir);
  const rows: { plain: number; pre: number; step: number; command: number }[] = [];
  try {
    for (let i = 1; i <= ROUNDS + 1; i++) {
      const version = `v${i}`;
      await publishVersion({ repo, tag: version, behaviour: "good", version });
      // Alternate which app goes first, so neither always meets a warmer Engine.
      for (const name of i % 2 ? [plain, pre] : [pre, plain]) {
        const r = await agentctl(agent, ["deploy", name, version]);
        if (r.code !== 0) throw new Error(`agentctl deploy ${name} ${version} exited ${r.code}: ${r.stderr}`);
      }
      // The first round only brings both apps up: no blue to drain or stop yet.
      if (i === 1) continue;
      const [p] = await deployHistory(agent, plain);
      const [q] = await deployHistory(agent, pre);
      const command = q!.hooks?.predeploy?.durationMs;
      if (command === undefined) throw new Error(`deploy ${q!.id} of ${pre} recorded no predeploy run time`);
      rows.push({ plain: deployMs(p!), pre: deployMs(q!), step: stepMs(q!, "predeploy"), command });
    }
    console.log(`deploy-agent bench: predeploy overhead over ${ROUNDS} deploys of each app (command ["true"], busybox test image)`);
    console.log("round  deploy-plain  deploy-predeploy  predeploy-step  command-run  step-overhead");
    rows.forEach((r, i) =>
      console.log(`${String(i + 1).padEnd(7)}${fmt(r.plain).padEnd(14)}${fmt(r.pre).padEnd(18)}${fmt(r.step).padEnd(16)}${fmt(r.command).padEnd(13)}${fmt(r.step - r.command)}`),
    );
    const command = median(rows.map((r) => r.command));
    console.log(
      `median: predeploy step ${fmt(median(rows.map((r) => r.step)))} of which the command ran ${fmt(command)}: the agent's overhead ${fmt(median(rows.map((r) => r.step - r.command)))}; ` +
        `whole deploy (pull left out) ${fmt(median(rows.map((r) => r.pre)))} with predeploy vs ${fmt(median(rows.map((r) => r.plain)))} without: ` +
        `${fmt(median(rows.map((r) => r.pre)) - median(rows.map((r) => r.plain)) - command)} beyond the command's run time`,
    );
  } finally {
    await agent.stop();
    await cleanupTestRun();
    removeDir(dir);
  }
}

await main();
