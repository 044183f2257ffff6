// npm run bench:soak: the real daemon runs for SOAK_MINUTES (10) with SOAK_APPS (4) apps polled
// every second from the local registry, while every few seconds one app gets, in turn: a new
// release on its tracked tag (the poll deploys it), `agentctl deploy <new version>`, `agentctl
// rollback`, `agentctl resume`. A request loop per app goes through the Traefik model. At the
// start and every minute the bench lets running deploys finish, then reads the daemon's private
// memory (RssAnon), RSS and open descriptors from /proc/<pid>, and its timers and open Engine
// streams from `agentctl status --json` (its `daemon` field). Targets: RssAnon grows by at most
// 5 MB from minute 2 to the end; descriptors and Engine streams stay flat. Exits 1 on a miss.
import { readFileSync, readdirSync } from "node:fs";
import { StatusReport } from "../../agent/control/protocol.js";
import { agentctl, makeAgentDir, readState, removeDir, requestLoop, rssMb, servedVersion, sleep, startAgent, storyApp, waitFor, writeConfig, type AgentProcess, type RequestLoop } from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { publishVariant } from "../support/image-variant.js";
import { publishVersion, testRunId } from "../support/images.js";
import { startTraefikModel } from "../support/traefik-model.js";

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const APPS = Number(process.env.SOAK_APPS ?? 4);
/** One action (on the next app in turn) this often. */
const ACTION_EVERY_MS = Number(process.env.SOAK_ACTION_MS ?? 3000);
/** App names start with this (apps of other runs on the same Engine have other names). */
const PREFIX = process.env.SOAK_PREFIX ?? "soak";
const MEMORY_GROWTH_MAX_MB = 5;
/** Open descriptors may differ by this much between quiet samples: the registry client's keep-alive pool (one per poll slot) and the control connection. */
const FD_SLACK = 4;

interface Sample {
  minute: number;
  anonMb: number;
  /** The lowest RssAnon read (every second) since the previous sample: the floor a leak raises. */
  floorMb: number;
  rssMb: number;
  fds: number;
  engineStreams: number;
  timers: number;
  deploys: number;
  deploysFailed: number;
  busy: number;
  actionsFailed: number;
  failedRequests: number;
  load: string;
}

interface AppRun {
  name: string;
  repo: string;
  step: number;
  /** The last action begun, and when: printed beside a failed request. */
  last: string;
  busy?: Promise<void>;
  loop: RequestLoop;
}

const ACTIONS = ["publish", "deploy", "rollback", "resume"] as const;

async function main(): Promise<void> {
  const run = testRunId();
  const dir = makeAgentDir("da-bench-soak-");
  const names = Array.from({ length: APPS }, (_, i) => `${PREFIX}-${i}-${run}`);
  const blocks = names.map((app) => storyApp(app, `127.0.0.1:5000/soak/${app}`, run, { schedule: "* * * * * *", network: `da-net-${run}`, drain: "2s", settle: "3s" }));
  writeConfig(dir, `state: ${dir}/state.json\nsocket: ${dir}/agent.sock\npoll: { jitter: 0s }\napps:${blocks.join("")}\n`);
  for (const app of names) {
    await publishVersion({ repo: `soak/${app}`, tag: "base", behaviour: "good", version: "v1" });
    await publishVersion({ repo: `soak/${app}`, tag: "latest", behaviour: "good", version: "v1" });
  }
  const traefik = await startTraefikModel();
  let agent: AgentProcess | undefined;
  const apps: AppRun[] = [];
  const outcomes = new Map<string, string>();
  const counts = { busy: 0, actionsFailed: 0, variant: 0 };
  const actionErrors: string[] = [];
  const requestErrors: string[] = [];
  const anonReadings: number[] = [];
  let reader: NodeJS.Timeout | undefined;
  let ticker: NodeJS.Timeout | undefined;
  try {
    agent = await startAgent(dir);
    const a = agent;
    for (const app of names) await waitFor(`${app} to serve v1`, async () => (await servedVersion(traefik.url, `${app}.test`)) === "v1", 120_000);
    for (const app of names) apps.push({ name: app, repo: `soak/${app}`, step: 0, last: "none", loop: requestLoop(traefik.url, `${app}.test`, 100) });

    /** Runs agentctl; false when another deploy of the app was running (exit 3), so the action is tried again next turn. */
    const ctl = async (args: string[]): Promise<boolean> => {
      const r = await agentctl(a, args);
      if (r.code === 3) counts.busy++;
      else if (r.code !== 0) {
        counts.actionsFailed++;
        actionErrors.push(`agentctl ${args.join(" ")} exited ${r.code}: ${r.stderr.trim().slice(0, 300)}`);
      }
      return r.code !== 3;
    };
    const act = async (app: AppRun) => {
      const action = ACTIONS[app.step % ACTIONS.length]!;
      const variant = `n${++counts.variant}`;
      app.last = `${action} at ${new Date().toISOString()}`;
      let done = true;
      if (action === "publish") await publishVariant({ repo: app.repo, fromTag: "base", tags: ["latest"], variant });
      else if (action === "deploy") {
        await publishVariant({ repo: app.repo, fromTag: "base", tags: [variant], variant });
        done = await ctl(["deploy", app.name, variant]);
      } else done = await ctl([action, app.name]);
      if (done) app.step++;
    };

    let paused = false;
    let next = 0;
    ticker = setInterval(() => {
      if (paused) return;
      const app = apps[next++ % apps.length]!;
      if (app.busy) return;
      app.busy = act(app)
        .catch((err: unknown) => {
          counts.actionsFailed++;
          actionErrors.push(`${app.name}: ${(err as Error).message}`);
        })
        .finally(() => (app.busy = undefined));
    }, ACTION_EVERY_MS);

    const quiet = async () => {
      paused = true;
      await Promise.all(apps.map((x) => x.busy));
      await waitFor("no deploy running", () => {
        const state = readState(a) as { apps: Record<string, { history: { outcome: string }[] }> };
        return names.every((app) => state.apps[app]?.history[0]?.outcome !== "running");
      }, 120_000);
      // A poll that saw the last publish may still be starting its deploy.
      await sleep(2_000);
    };
    const samples: Sample[] = [];
    const sample = async (minute: number) => {
      await quiet();
      const pid = a.child.pid!;
      const mem = rssMb(pid);
      const fds = readdirSync(`/proc/${pid}/fd`).length;
      const r = await agentctl(a, ["status"], { json: true });
      const daemon = StatusReport.parse(r.json).daemon;
      if (!daemon) throw new Error(`agentctl status --json has no daemon field: ${r.stdout.slice(0, 300)}`);
      const state = readState(a) as { apps: Record<string, { history: { id: string; outcome: string }[] }> };
      for (const app of names) for (const rec of state.apps[app]?.history ?? []) outcomes.set(`${app}#${rec.id}`, rec.outcome);
      const all = [...outcomes.values()];
      let failedRequests = 0;
      for (const x of apps) {
        const seen = await x.loop.stop();
        failedRequests += seen.failed.length;
        for (const f of seen.failed) requestErrors.push(`${new Date(f.at).toISOString()} ${x.name}: ${f.what} (its last action: ${x.last})`);
      }
      const floorMb = Math.min(...anonReadings, mem.anon);
      anonReadings.length = 0;
      samples.push({
        minute,
        anonMb: mem.anon,
        floorMb,
        rssMb: mem.rss,
        fds,
        engineStreams: daemon.engineStreams,
        timers: daemon.timers,
        deploys: all.length - names.length,
        deploysFailed: all.filter((o) => o === "failed" || o === "aborted").length,
        busy: counts.busy,
        actionsFailed: counts.actionsFailed,
        failedRequests: failedRequests + (samples.at(-1)?.failedRequests ?? 0),
        load: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
      });
      print(samples.at(-1)!, samples.length === 1);
      for (const x of apps) x.loop = requestLoop(traefik.url, `${x.name}.test`, 100);
      paused = false;
    };

    console.log(`deploy-agent soak (run ${run}): ${APPS} apps polled every 1s, one action every ${ACTION_EVERY_MS / 1000}s in turn (${ACTIONS.join(", ")}), ${MINUTES} min, node ${process.version}, ${new Date().toISOString()}`);
    console.log("samples are taken with no deploy running (the bench pauses its actions until they finish); polls go on");
    const t0 = Date.now();
    await sample(0);
    reader = setInterval(() => anonReadings.push(rssMb(a.child.pid!).anon), 1000);
    for (let m = 1; m <= MINUTES; m++) {
      await sleep(Math.max(0, t0 + m * 60_000 - Date.now()));
      if (a.child.exitCode !== null) throw new Error(`the daemon exited with ${a.child.exitCode}:\n${a.lines.slice(-20).join("\n")}`);
      await sample(m);
    }
    clearInterval(ticker);
    await quiet();
    anonReadings.length = 0;
    for (const e of actionErrors.slice(0, 10)) console.log(`  action failed: ${e}`);
    for (const e of requestErrors.slice(0, 10)) console.log(`  request failed: ${e}`);
    process.exitCode = verdict(samples) ? 0 : 1;
  } finally {
    clearInterval(reader);
    clearInterval(ticker);
    for (const x of apps) await x.loop.stop();
    await agent?.stop();
    await traefik.close();
    await cleanupTestRun();
    removeDir(dir);
  }
}

function print(s: Sample, header: boolean): void {
  const cols: [string, string][] = [
    ["minute", String(s.minute)],
    ["RssAnon", `${s.anonMb.toFixed(1)} MB`],
    ["floor", `${s.floorMb.toFixed(1)} MB`],
    ["RSS", `${s.rssMb.toFixed(1)} MB`],
    ["fds", String(s.fds)],
    ["engine-streams", String(s.engineStreams)],
    ["timers", String(s.timers)],
    ["deploys", String(s.deploys)],
    ["failed-deploys", String(s.deploysFailed)],
    ["busy", String(s.busy)],
    ["failed-actions", String(s.actionsFailed)],
    ["failed-requests", String(s.failedRequests)],
    ["load", s.load],
  ];
  const width = (c: [string, string]) => Math.max(c[0].length, 9) + 2;
  if (header) console.log(cols.map((c) => c[0].padEnd(width(c))).join("").trimEnd());
  console.log(cols.map((c) => c[1].padEnd(width(c))).join("").trimEnd());
}

/** Prints the verdict line; true when every target is met. */
function verdict(samples: Sample[]): boolean {
  const base = samples[Math.min(2, samples.length - 2)] ?? samples[0]!;
  const last = samples.at(-1)!;
  const growth = last.floorMb - base.floorMb;
  const from = samples.filter((s) => s.minute >= base.minute);
  const fdSpread = Math.max(...from.map((s) => s.fds)) - base.fds;
  const streams = Math.max(...samples.map((s) => s.engineStreams));
  const misses = [
    ...(growth > MEMORY_GROWTH_MAX_MB ? [`RssAnon's floor grew ${growth.toFixed(1)} MB from minute ${base.minute} (target ≤ ${MEMORY_GROWTH_MAX_MB} MB)`] : []),
    ...(fdSpread > FD_SLACK ? [`open descriptors rose by ${fdSpread} from minute ${base.minute} (target ≤ ${FD_SLACK})`] : []),
    ...(streams > samples[0]!.engineStreams ? [`Engine streams open with no deploy running: ${streams} (target ${samples[0]!.engineStreams})`] : []),
    ...(last.deploys === 0 ? ["no deploy happened"] : []),
  ];
  console.log(
    `verdict: ${misses.length === 0 ? "PASS" : `FAIL (${misses.join("; ")})`}: RssAnon floor ${growth >= 0 ? "+" : ""}${growth.toFixed(1)} MB from minute ${base.minute} to ${last.minute} (target ≤ ${MEMORY_GROWTH_MAX_MB} MB), ` +
      `fds ${base.fds} → ${last.fds} (max +${fdSpread}, target ≤ ${FD_SLACK}), Engine streams at rest ${streams} (target ${samples[0]!.engineStreams}), ` +
      `${last.deploys} deploys (${last.deploysFailed} failed), ${last.failedRequests} failed requests`,
  );
  return misses.length === 0;
}

await main();
