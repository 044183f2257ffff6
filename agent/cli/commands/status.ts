// `agentctl status [app]`: what serves now, what the poller does, and what the engine shows, per app.
import { StatusReport, StatusRequest, type AppStatus, type DaemonStats } from "../../control/protocol.js";
import { badArgument, checkPositionals, dropUndefined, validateRequest, type Command } from "../command.js";
import { pinWords, retryWords, skipReasonWords } from "../../state/describe.js";
import { formatAge, formatTime, shortDigest, table } from "../output.js";
import { formatDurationMs, parseDurationMs } from "../../config/duration.js";
import { DEFAULT_WATCH_INTERVAL_MS, watchLoop } from "../watch.js";

export const statusCommand: Command = {
  verb: "status",
  usage: "status [app] [--watch]",
  summary: "the live release, pin, running deploy, last poll and containers of each app",
  help: `Prints one block per app (or only app's): the live release (version, digest, the slot
its container holds, generation); whether the app is pinned, to what and why (polling paused);
the deploy running now and its step; the run of failures polling retries after (how many in
a row, the last error, the next try); the last poll, its error, and what the tracked tag names
and whether polling will deploy it; a notify-mode app's available release; a new release
waiting for the app's window or minAge, and when it deploys by itself; warnings (no Traefik on the route's network, traefik.api
not set so switches are not confirmed); a live container (web's in "live state", a role's at
the end of its line) that exited, restarts or is unhealthy by itself; digests polling skips and
why; kept releases; and the app's containers and roles, or a Swarm app's services (digest,
replicas, update state) and their tasks that run or are still stopping. Ages count from this host's clock: the
live release's ("since …, 3h12m ago") and the next poll's ("next poll in 4m10s"). --watch asks
again every 2s (or --interval) and, on a terminal, clears the screen and redraws it like
watch(1); into a pipe it appends each refresh. A daemon that goes away is shown and asked again
at the next refresh; Ctrl-C ends it with status 0. --watch is for a person and is refused with --json.`,
  flags: {
    watch: { value: "", switch: true, description: "refresh every 2s (clear and redraw on a terminal) until Ctrl-C" },
    interval: { value: "DURATION", description: 'with --watch: the time between refreshes, e.g. "5s" (100ms to 1h)' },
  },
  maxPositionals: 1,
  async run(args, ctx) {
    checkPositionals(this, args);
    const req = validateRequest("status", StatusRequest, dropUndefined({ app: args.positionals[0] }), { app: "app" });
    const watch = args.flags.has("watch");
    const intervalMs = watchInterval(args.flags.get("interval"), watch);
    if (watch && ctx.json) {
      throw badArgument("--watch draws for a person and cannot be combined with --json (one JSON document per run)", "for a feed, run agentctl --json status in a loop");
    }
    if (watch) {
      return watchLoop({
        fetch: async () => statusLines(await ctx.call("status", req, StatusReport), ctx.now()),
        title: `agentctl status${req.app === undefined ? "" : ` ${req.app}`}`,
        intervalMs,
        out: ctx.out,
        raw: ctx.raw,
        isTTY: ctx.isTTY,
        now: ctx.now,
        sleep: ctx.sleep,
        signal: ctx.interrupted,
      });
    }
    const report = await ctx.call("status", req, StatusReport);
    if (ctx.json) {
      ctx.out.document(report);
      return 0;
    }
    for (const line of statusLines(report, ctx.now())) ctx.out.line(line);
    return 0;
  },
};

const MIN_INTERVAL_MS = 100;
const MAX_INTERVAL_MS = 3_600_000;

function watchInterval(text: string | undefined, watch: boolean): number {
  if (text === undefined) return DEFAULT_WATCH_INTERVAL_MS;
  if (!watch) throw badArgument("--interval only applies with --watch", "agentctl status --watch --interval 5s");
  const ms = parseDurationMs(text);
  if (ms === undefined || ms < MIN_INTERVAL_MS || ms > MAX_INTERVAL_MS) {
    throw badArgument(`--interval: expected a duration from 100ms to 1h such as "5s", got "${text}"`, "agentctl status --watch --interval 5s");
  }
  return ms;
}

/** The human form of a status report, with ages and the next poll counted from `nowMs`. */
export function statusLines(report: StatusReport, nowMs: number): string[] {
  const lines = [`deploy-agent ${report.version}, pid ${report.pid}, up since ${formatTime(report.startedAt)}`];
  if (report.daemon) lines.push(daemonLine(report.daemon));
  if (report.engineError) lines.push(`engine: not answering (${report.engineError.code}: ${report.engineError.message}); containers and services are not shown, nor whether Traefik is on each route's network`);
  if (report.stateWrite) lines.push(`state file: not written since ${formatTime(report.stateWrite.since)}: ${report.stateWrite.message}`);
  for (const app of report.apps) lines.push("", ...appBlock(app, nowMs));
  if (report.apps.length === 0) lines.push("no apps");
  return lines;
}

/** "2025-01-01T10:00:00Z, 3h12m ago" */
function sinceWords(iso: string, nowMs: number): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? formatTime(iso) : `${formatTime(iso)}, ${formatAge(nowMs - t)} ago`;
}

/** "next poll in 4m10s (2025-01-01T10:05:00Z)", or "due now" once the time has passed. */
function nextPollWords(iso: string | undefined, nowMs: number): string {
  if (iso === undefined) return "next poll not scheduled";
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return `next poll ${formatTime(iso)}`;
  return t <= nowMs ? `next poll due now (${formatTime(iso)})` : `next poll in ${formatAge(t - nowMs)} (${formatTime(iso)})`;
}

/** `daemon: 41.4 MB private memory (RSS 98.0 MB; JS heap 20.1 of 24.0 MB, native 3.2 MB, buffers 0.4 MB), 23 open files, 5 timers, 0 Engine streams`. */
function daemonLine(d: DaemonStats): string {
  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(1)} MB`;
  const parts = `JS heap ${mb(d.heapUsedBytes).slice(0, -3)} of ${mb(d.heapTotalBytes)}, native ${mb(d.externalBytes)}, buffers ${mb(d.arrayBuffersBytes)}`;
  const memory = d.rssAnonBytes !== undefined ? `${mb(d.rssAnonBytes)} private memory (RSS ${mb(d.rssBytes)}; ${parts})` : `RSS ${mb(d.rssBytes)} (${parts})`;
  const files = d.fds !== undefined ? `, ${d.fds} open files` : "";
  return `daemon: ${memory}${files}, ${d.timers} timers, ${d.engineStreams} Engine streams`;
}

function appBlock(a: AppStatus, nowMs: number): string[] {
  const track = a.resolvedTag !== undefined && a.resolvedTag !== a.track ? `${a.track} (resolved ${a.resolvedTag})` : a.track;
  const rows: [string, string][] = [];
  rows.push([
    "live",
    a.live
      ? `${a.live.version}  ${shortDigest(a.live.digest)}  ${a.backend === "swarm" ? "as Swarm services" : `in slot ${a.live.slot}`}  generation ${a.live.generation}  since ${sinceWords(a.live.since, nowMs)}  (#${a.live.deployId})`
      : "nothing deployed yet",
  ]);
  rows.push([
    "polling",
    a.pin
      ? `paused: ${pinWords(a.pin, a.track)} since ${formatTime(a.pin.since)} (#${a.pin.deployId}); agentctl resume ${a.app} to unpin`
      : a.paused
        ? "paused"
        : `active${a.mode === "notify" ? " (mode notify: records new releases, deploys nothing)" : ""}, ${nextPollWords(a.nextPoll, nowMs)}`,
  ]);
  if (a.available) rows.push(["available", `${a.available.version} (${shortDigest(a.available.digest)}) since ${formatTime(a.available.since)}; agentctl deploy ${a.app} deploys it`]);
  if (a.waiting) rows.push(["new release", waitingWords(a.waiting)]);
  if (a.running) {
    rows.push(["running", `#${a.running.deployId} ${a.running.version}, step ${a.running.step} (trigger ${a.running.trigger}, since ${formatTime(a.running.startedAt)})`]);
  }
  if (a.lastPoll) {
    rows.push(["last poll", `${formatTime(a.lastPoll.at)}  ${shortDigest(a.lastPoll.digest)}`]);
    if (a.lastPoll.error) rows.push(["poll error", `${a.lastPoll.error.code}: ${a.lastPoll.error.message}`]);
    if (a.lastPoll.digest !== undefined) rows.push(["tracked", trackedWords(a, a.lastPoll.digest)]);
  } else {
    rows.push(["last poll", "not yet"]);
  }
  if (a.retrying) rows.push(["retrying", retryingWords(a.app, a.retrying, a.running !== undefined)]);
  for (const c of a.conflicts ?? []) {
    rows.push(["conflict", `container ${c.name} (${c.id}, ${c.state}) is ${c.reason}; the agent leaves it alone and cannot deploy into its slot: rename or remove it, or rename the app`]);
  }
  if (a.watch) rows.push(["watch", `watching until ${formatTime(a.watch.until)} (#${a.watch.deployId}); ${a.watch.previous} is kept to roll back to`]);
  if (a.liveProblem) rows.push(["live state", `${a.liveProblem.words}, since ${formatTime(a.liveProblem.since)}`]);
  for (const w of a.warnings ?? []) rows.push(["warning", w]);
  for (const s of a.skip) rows.push(["skipped", `${shortDigest(s.digest)} ${s.version} (${skipReasonWords(s.reason)}, #${s.deployId}, ${formatTime(s.at)})`]);
  if (a.releases.length > 0) rows.push(["releases", a.releases.map((r) => `${r.version} ${shortDigest(r.digest)}`).join(", ")]);

  const lines = [`${a.app}  ${a.image}  track ${track}  schedule "${a.schedule}"`];
  const width = Math.max(...rows.map(([k]) => k.length));
  for (const [k, v] of rows) lines.push(`  ${k.padEnd(width)}  ${v}`);
  if (a.containers.length === 0) {
    // A Swarm app has no containers of its own: its services' tasks are listed below.
    if (!a.services) lines.push(`  ${"containers".padEnd(width)}  none`);
  } else {
    lines.push("  containers");
    const cells = a.containers.map((c) => [c.name, c.slot, c.state, c.health, shortDigest(c.digest), c.generation === undefined ? "-" : `gen ${c.generation}`]);
    for (const line of table(["NAME", "SLOT", "STATE", "HEALTH", "DIGEST", "GENERATION"], cells)) lines.push(`    ${line}`);
  }
  if (a.roles) {
    lines.push("  roles");
    const cells = a.roles.map((c) => [c.role, c.name, c.slot, c.state, c.health, shortDigest(c.digest), c.generation === undefined ? "-" : `gen ${c.generation}`]);
    const [header, ...body] = table(["ROLE", "NAME", "SLOT", "STATE", "HEALTH", "DIGEST", "GENERATION"], cells);
    lines.push(`    ${header}`);
    // A live role's problem at the end of its line, so the columns of the other lines stay as they were.
    for (const [i, line] of body.entries()) {
      const p = a.roles[i]?.liveProblem;
      lines.push(p ? `    ${line}  (${p.words}, since ${formatTime(p.since)})` : `    ${line}`);
    }
  }
  if (a.services) lines.push(...serviceLines(a.services, width));
  return lines;
}

type ServiceRow = NonNullable<AppStatus["services"]>[number];

/** A Swarm app's services, then the tasks that run or still stop, each as a table like the containers'. */
function serviceLines(services: ServiceRow[], width: number): string[] {
  const lines = ["  services"];
  const cells = services.map((s) => [s.name, s.role ?? "web", shortDigest(s.digest), s.replicas === undefined ? "-" : String(s.replicas), serviceWords(s)]);
  for (const line of table(["NAME", "ROLE", "DIGEST", "REPLICAS", "UPDATE"], cells)) lines.push(`    ${line}`);
  const tasks = services.flatMap((s) => s.tasks.map((t) => [s.name, t.slot === undefined ? "-" : String(t.slot), t.state, t.desiredState, shortDigest(t.digest), nodeWords(t), t.error ?? "-"]));
  if (tasks.length === 0) {
    lines.push(`  ${"tasks".padEnd(width)}  none`);
    return lines;
  }
  lines.push("  tasks");
  for (const line of table(["SERVICE", "SLOT", "STATE", "DESIRED", "DIGEST", "NODE", "ERROR"], tasks)) lines.push(`    ${line}`);
  return lines;
}

/** Where the service's update stands: "completed (update completed)", or why there is nothing to show. */
function serviceWords(s: ServiceRow): string {
  if (s.error !== undefined) return `not read: ${s.error}`;
  if (!s.exists) return "missing: the agent makes it again from the live release at its next start";
  if (!s.update) return "-";
  return s.update.message ? `${s.update.state} (${s.update.message})` : s.update.state;
}

/** The node's hostname, else its id cut as `docker node ls` cuts it; "-" before Swarm placed the task. */
function nodeWords(t: ServiceRow["tasks"][number]): string {
  return t.nodeName ?? (t.node === undefined ? "-" : t.node.slice(0, 12));
}

/** What the tracked tag named at the last poll, and whether polling will deploy it: "latest → sha256:… (skipped: rolled back), not deploying". */
function trackedWords(a: AppStatus, digest: string): string {
  const tag = a.resolvedTag ?? a.track;
  const named = `${tag} → ${shortDigest(digest)}`;
  if (a.live?.digest === digest) return `${named}, live`;
  const skip = a.skip.find((s) => s.digest === digest);
  if (skip) return `${named} (skipped: ${skipReasonWords(skip.reason)}), not deploying; agentctl deploy ${a.app} ${tag} deploys it anyway`;
  if (a.pin) return `${named}, not deploying while pinned`;
  if (a.available?.digest === digest) return `${named}, available, not deploying (mode notify)`;
  if (a.waiting?.digest === digest) return `${named}, not deploying yet (${a.waiting.gate === "window" ? "window" : "minAge"})`;
  return a.running ? `${named}, deploying` : `${named}, deployed at the next poll`;
}

/** `v1.3.0 (sha256:abc…) waiting for window, opens <time>`, or `… eligible at <time> (minAge 1h)`. */
function waitingWords(w: NonNullable<AppStatus["waiting"]>): string {
  const what = `${w.version} (${shortDigest(w.digest)})`;
  if (w.gate === "window") return `${what} waiting for window, opens ${formatTime(w.until)}`;
  return `${what} eligible at ${formatTime(w.until)} (minAge ${formatDurationMs(w.minAgeMs ?? 0)}); deployed by itself then`;
}

/** "3 failures in a row, last: PULL_FAILED: …; next try in 40s (12:00:40), by itself", or "trying again now" while a deploy runs. */
function retryingWords(app: string, r: NonNullable<AppStatus["retrying"]>, running: boolean): string {
  const failures = retryWords(r.failures, r.lastError);
  if (running) return `${failures}; trying again now`;
  const held = r.digest !== undefined ? ` ${shortDigest(r.digest)} held off;` : "";
  const next = r.nextTryAt !== undefined ? ` next try in ${Math.ceil((r.nextTryInMs ?? 0) / 1000)}s (${formatTime(r.nextTryAt)}), by itself` : " next try at the next poll";
  return `${failures};${held}${next}; agentctl check ${app} tries now`;
}
