// npm run bench:soak: the real daemon runs for SOAK_MINUTES (10) with SOAK_APPS (4) apps polled
// every second from the local registry, while every few seconds one app gets, in turn: a new
// release on its tracked tag (the poll deploys it), `agentctl deploy <new version>`, `agentctl
// rollback`, `agentctl resume`. A request loop per app goes through the Traefik model. At the
// start and every minute the bench lets running deploys finish, then reads the daemon's private
// memory (RssAnon) and RSS from /proc/<pid>/status, then again after a full garbage collection
// (through the inspector the daemon is started with) with where it lives (/proc/<pid>/smaps:
// malloc's arenas or V8's pages), its open descriptors from /proc/<pid>/fd, and its heap, native
// memory, timers and open Engine streams from `agentctl status --json` (its `daemon` field).
// Targets (soak-report.ts): RssAnon after collection grows by at most 5 MB from minute 2 to the
// end; descriptors and Engine streams stay flat. Prints a table and a verdict; exits 1 on a miss.
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StatusReport } from "../../agent/control/protocol.js";
import { agentctl, makeAgentDir, readState, removeDir, requestLoop, rssMb, servedVersion, sleep, startAgent, storyApp, waitFor, writeConfig, type AgentProcess, type RequestLoop } from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { publishVariant } from "../support/image-variant.js";
import { publishVersion, testRunId } from "../support/images.js";
import { memoryMaps } from "../support/memory-maps.js";
import { INSPECT_OPTION, connectInspector, inspectorUrl, type Inspector } from "../support/inspector.js";
import { bursts, watchDropped, type Failure } from "../support/serving-gaps.js";
import { print, verdict, type Sample } from "./soak-report.js";
import { startTraefikModel } from "../support/traefik-model.js";

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const APPS = Number(process.env.SOAK_APPS ?? 4);
/** One action (on the next app in turn) this often. */
const ACTION_EVERY_MS = Number(process.env.SOAK_ACTION_MS ?? 3000);
/** App names start with this (apps of other runs on the same Engine have other names). */
const PREFIX = process.env.SOAK_PREFIX ?? "soak";
/**
 * A folder to write heap snapshots of the daemon to (for finding a leak): one at minute 2 and one at
 * the end, each after that minute's sample. A snapshot leaves the daemon holding ~90 MB more
 * RssAnon, so a run that takes them judges memory on the V8 heap instead.
 */
const SNAPSHOTS = process.env.SOAK_HEAP_SNAPSHOTS;
/**
 * glibc malloc's arena limit for the daemon, as systemd/deploy-agent.service sets it (2): with
 * glibc's default (8 per core) each libuv and V8 worker thread gets an arena of its own, whose
 * freed space stays resident. SOAK_MALLOC_ARENA_MAX= (empty) runs with glibc's default, to compare.
 */
const MALLOC_ARENA_MAX = process.env.SOAK_MALLOC_ARENA_MAX ?? "2";
const ACTIONS = ["publish", "deploy", "rollback", "resume"] as const;

interface AppRun {
  name: string;
  repo: string;
  step: number;
  busy?: Promise<void>;
  loop: RequestLoop;
}

/** Starts the daemon with its inspector on a free loopback port (only the daemon: NODE_OPTIONS is set around its spawn). */
async function startInspectedAgent(dir: string): Promise<{ agent: AgentProcess; inspector: Inspector }> {
  const saved = process.env.NODE_OPTIONS;
  process.env.NODE_OPTIONS = [saved, INSPECT_OPTION].filter(Boolean).join(" ");
  const starting = startAgent(dir, MALLOC_ARENA_MAX ? { env: { MALLOC_ARENA_MAX } } : {});
  if (saved === undefined) delete process.env.NODE_OPTIONS;
  else process.env.NODE_OPTIONS = saved;
  const agent = await starting;
  const url = inspectorUrl(agent.lines);
  if (!url) throw new Error(`the daemon did not announce its inspector:\n${agent.lines.slice(0, 5).join("\n")}`);
  return { agent, inspector: await connectInspector(url) };
}

async function main(): Promise<void> {
  const run = testRunId();
  const dir = makeAgentDir("da-bench-soak-");
  const names = Array.from({ length: APPS }, (_, i) => `${PREFIX}-${i}-${run}`);
  const blocks = names.map((app) => storyApp(app, `127.0.0.1:5000/soak/${app}`, run, { schedule: "* * * * * *", network: `da-net-${run}`, drain: "2s", settle: "3s" }));
  // A long start timeout: the soak looks for leaks, and a busy shared host can take a while to get green healthy.
  const apps_ = blocks.join("").replaceAll("startTimeout: 30s", "startTimeout: 2m");
  writeConfig(dir, `state: ${dir}/state.json\nsocket: ${dir}/agent.sock\npoll: { jitter: 0s }\napps:${apps_}\n`);
  for (const app of names) {
    await publishVersion({ repo: `soak/${app}`, tag: "base", behaviour: "good", version: "v1" });
    await publishVersion({ repo: `soak/${app}`, tag: "latest", behaviour: "good", version: "v1" });
  }
  const traefik = await startTraefikModel();
  const dropped = watchDropped(traefik, run);
  let agent: AgentProcess | undefined;
  let inspector: Inspector | undefined;
  let ticker: NodeJS.Timeout | undefined;
  const apps: AppRun[] = [];
  const outcomes = new Map<string, string>();
  const counts = { busy: 0, actionsFailed: 0, variant: 0 };
  const actionErrors: string[] = [];
  const failures = new Map<string, Failure[]>(names.map((n) => [n, []]));
  try {
    ({ agent, inspector } = await startInspectedAgent(dir));
    const a = agent;
    const gc = inspector;
    for (const app of names) {
      await waitFor(`${app} to serve v1`, async () => {
        if ((await servedVersion(traefik.url, `${app}.test`)) === "v1") return true;
        // A first deploy that failed (a busy host) leaves its digest skipped: deploy it by hand, then unpin.
        const state = readState(a) as { apps: Record<string, { history: { outcome: string }[] }> } | undefined;
        if (state?.apps[app]?.history[0]?.outcome === "failed") {
          await agentctl(a, ["deploy", app, "latest"]);
          await agentctl(a, ["resume", app]);
        }
        return false;
      }, 900_000, 1000);
    }
    for (const app of names) apps.push({ name: app, repo: `soak/${app}`, step: 0, loop: requestLoop(traefik.url, `${app}.test`, 100) });

    /** Runs agentctl; false when another deploy of the app was running (exit 3): the action is tried again next turn. */
    const ctl = async (args: string[]): Promise<boolean> => {
      const r = await agentctl(a, args);
      if (r.code === 3) counts.busy++;
      else if (r.code !== 0) {
        counts.actionsFailed++;
        actionErrors.push(`${new Date().toISOString()} agentctl ${args.join(" ")} exited ${r.code}: ${r.stderr.trim().slice(0, 300)}`);
      }
      return r.code !== 3;
    };
    const act = async (app: AppRun) => {
      const action = ACTIONS[app.step % ACTIONS.length]!;
      const variant = `n${++counts.variant}`;
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
      const app = apps[next++ % apps.length]!;
      if (paused || app.busy) return;
      app.busy = act(app)
        .catch((err: unknown) => {
          counts.actionsFailed++;
          actionErrors.push(`${new Date().toISOString()} ${app.name}: ${(err as Error).message}`);
        })
        .finally(() => (app.busy = undefined));
    }, ACTION_EVERY_MS);

    const quiet = async () => {
      paused = true;
      await Promise.all(apps.map((x) => x.busy));
      await waitFor("no deploy running", () => {
        const state = readState(a) as { apps: Record<string, { history: { outcome: string }[] }> };
        return names.every((app) => state.apps[app]?.history[0]?.outcome !== "running");
      }, 300_000);
      // A poll that saw the last publish may still be starting its deploy.
      await sleep(2_000);
    };
    const samples: Sample[] = [];
    /** Reads the daemon at rest: again when status shows a deploy that began meanwhile (a poll that was slow to see a publish). */
    const measure = async () => {
      for (;;) {
        await quiet();
        const pid = a.child.pid!;
        const mem = rssMb(pid);
        await gc.collectGarbage();
        const memGc = rssMb(pid);
        const maps = memoryMaps(pid);
        const fds = readdirSync(`/proc/${pid}/fd`).length;
        const r = await agentctl(a, ["status"], { json: true });
        const report = StatusReport.parse(r.json);
        if (!report.daemon) throw new Error(`agentctl status --json has no daemon field: ${r.stdout.slice(0, 300)}`);
        if (report.apps.every((x) => x.running === undefined)) return { mem, memGc, maps, fds, daemon: report.daemon };
      }
    };
    const sample = async (minute: number) => {
      const { mem, memGc, maps, fds, daemon } = await measure();
      const state = readState(a) as { apps: Record<string, { history: { id: string; outcome: string }[] }> };
      for (const app of names) for (const rec of state.apps[app]?.history ?? []) outcomes.set(`${app}#${rec.id}`, rec.outcome);
      const all = [...outcomes.values()];
      for (const x of apps) {
        failures.get(x.name)!.push(...(await x.loop.stop()).failed);
        x.loop = requestLoop(traefik.url, `${x.name}.test`, 100);
      }
      samples.push({
        minute,
        anonMb: mem.anon,
        anonGcMb: memGc.anon,
        maps,
        rssMb: mem.rss,
        heapMb: daemon.heapUsedBytes / 1024 / 1024,
        heapTotalMb: daemon.heapTotalBytes / 1024 / 1024,
        externalMb: daemon.externalBytes / 1024 / 1024,
        arrayBuffersMb: daemon.arrayBuffersBytes / 1024 / 1024,
        fds,
        engineStreams: daemon.engineStreams,
        timers: daemon.timers,
        deploys: all.length - names.length,
        deploysFailed: all.filter((o) => o === "failed" || o === "aborted").length,
        busy: counts.busy,
        actionsFailed: counts.actionsFailed,
        failedRequests: [...failures.values()].reduce((n, f) => n + f.length, 0),
        load: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" "),
      });
      print(samples.at(-1)!, samples.length === 1);
      if (SNAPSHOTS && (minute === 2 || minute === MINUTES)) await gc.heapSnapshot(join(SNAPSHOTS, `soak-${run}-minute-${minute}.heapsnapshot`));
      paused = false;
    };

    console.log(
      `deploy-agent soak (run ${run}): ${APPS} apps polled every 1s, one action every ${ACTION_EVERY_MS / 1000}s in turn (${ACTIONS.join(", ")}), ` +
        `${MINUTES} min, MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX || "(glibc default)"}, node ${process.version}, ${new Date().toISOString()}, ${readFileSync("/proc/cpuinfo", "utf8").match(/^processor/gm)?.length ?? "?"} cores`,
    );
    console.log(
      "each sample waits until no deploy runs (actions pause; polls go on); after-gc: RssAnon after a full collection, split by /proc/<pid>/smaps into " +
        "malloc's main and thread arenas and other anonymous memory (V8's pages, mmap'd buffers); heap: V8 heap used after it, heap-total: reserved; " +
        "external: native memory bound to JS objects, arraybuffers included",
    );
    const t0 = Date.now();
    await sample(0);
    for (let m = 1; m <= MINUTES; m++) {
      await sleep(Math.max(0, t0 + m * 60_000 - Date.now()));
      if (a.child.exitCode !== null) throw new Error(`the daemon exited with ${a.child.exitCode}:\n${a.lines.slice(-20).join("\n")}`);
      await sample(m);
    }
    clearInterval(ticker);
    for (const e of actionErrors.slice(0, 10)) console.log(`  action failed: ${e}`);
    for (const [app, fs] of failures) {
      for (const b of bursts(fs)) {
        const kinds = [...b.kinds].map(([k, n]) => `${n} × ${k.trim()}`).join(", ");
        console.log(`  ${app}: ${b.count} failed requests ${new Date(b.from).toISOString()} – ${new Date(b.to).toISOString().slice(11)}: ${kinds}`);
        for (const d of dropped.between(b.from - 5_000, b.to)) console.log(`    model dropped ${d}`);
      }
    }
    if (actionErrors.length + samples.at(-1)!.failedRequests > 0) {
      const log = join(tmpdir(), `soak-${run}-daemon.log`);
      writeFileSync(log, a.lines.join("\n"));
      console.log(`  the daemon's log: ${log}`);
    }
    process.exitCode = verdict(samples, SNAPSHOTS !== undefined) ? 0 : 1;
  } finally {
    clearInterval(ticker);
    dropped.stop();
    inspector?.close();
    for (const x of apps) await x.loop.stop();
    await agent?.stop();
    await traefik.close();
    await cleanupTestRun();
    removeDir(dir);
  }
}


await main();
