// What `agentctl status` and `agentctl history` show: the state file, the last poll of each app
// (polling.ts), and a bounded look at the Engine, so status answers even when the Engine does not.
import type { AppRouting, AppStatus, Retrying, DaemonStats, ServiceStatusView, StatusReport } from "../control/api.js";
import type { MonotonicClock } from "../clock.js";
import { toAgentError } from "../errors.js";
import type { Conflict, ContainerSummary } from "../docker/engine.js";
import { AGENT_LABELS, PROBE_ROLE, appRoleOf } from "../labels.js";
import type { DeployRecord, ErrorRecord } from "../state/schema.js";
import type { RetryState } from "./poll-decision.js";
import { appRouting, routingWarnings } from "./routing.js";
import { lookServices } from "./swarm-status.js";
import type { Polling, ServiceDeps } from "./polling.js";

/**
 * How long `status` waits for the Engine's container list (and a Swarm app's services): status must
 * answer within a few seconds even when the Engine does not (it then reports the Engine as not answering).
 */
const STATUS_ENGINE_TIMEOUT_MS = 2000;

/** What `status` shows of the Engine for one app. */
interface EngineView {
  own: ContainerSummary[];
  conflicts: Conflict[];
  /** Left out when the app has no route, or the Engine did not answer the look for Traefik. */
  routing?: AppRouting;
  /** A Swarm app's services; left out for a container app. */
  services?: ServiceStatusView[];
}

/** What the daemon tells the report about itself (part of service.ts ServiceOptions). */
export interface ReportOptions {
  version: string;
  startedAt: string;
  nextPoll?: (app: string) => string | undefined;
  /** The process's own resources, for `status` to report. */
  daemonStats?: () => DaemonStats;
  /** The live release's web container (or, with `role`, that role's) not serving by itself, as the daemon's watch of the live releases sees it. */
  liveProblem?: (app: string, role?: string) => AppStatus["liveProblem"];
}

export class StatusReporter {
  readonly #deps: ServiceDeps;
  readonly #opts: ReportOptions;
  readonly #polling: Polling;
  /** The clock the polls' backoffs run on, to say when they end. */
  readonly #now: MonotonicClock;

  constructor(deps: ServiceDeps, opts: ReportOptions, polling: Polling, now: MonotonicClock) {
    this.#deps = deps;
    this.#opts = opts;
    this.#polling = polling;
    this.#now = now;
  }

  async status(names: string[]): Promise<StatusReport> {
    // Read before the Engine calls below, which hold descriptors and timers of their own.
    const daemon = this.#opts.daemonStats?.();
    const apps: AppStatus[] = [];
    let engineError: ErrorRecord | undefined;
    for (const name of names) {
      // Once the Engine failed to answer, the other apps are reported without asking it again.
      const seen = engineError ? undefined : await this.#engineView(name).catch((err: unknown) => void (engineError = toAgentError(err).toJSON()));
      apps.push(this.#appStatus(name, seen ?? { own: [], conflicts: [] }));
    }
    const stateWrite = this.#deps.store.writeProblem;
    return {
      version: this.#opts.version,
      pid: process.pid,
      startedAt: this.#opts.startedAt,
      ...(daemon ? { daemon } : {}),
      apps,
      ...(engineError ? { engineError } : {}),
      ...(stateWrite ? { stateWrite: { ...stateWrite } } : {}),
    };
  }

  history(names: string[], limit: number | undefined): DeployRecord[] {
    const all = names.flatMap((n) => this.#deps.store.app(n).history);
    all.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : Number(b.id) - Number(a.id)));
    return all.slice(0, limit ?? 20);
  }

  async #engineView(name: string): Promise<EngineView> {
    const timeoutMs = Math.min(STATUS_ENGINE_TIMEOUT_MS, this.#deps.config.docker.timeout);
    const cfg = this.#deps.config.apps[name]!;
    const swarm = cfg.backend === "swarm" ? this.#deps.swarm : undefined;
    const [seen, routing, services] = await Promise.all([
      this.#deps.engine.summary(name, timeoutMs),
      appRouting(this.#deps.engine, this.#deps.config, name, timeoutMs).catch(() => undefined),
      swarm ? lookServices(swarm, name, cfg, timeoutMs) : undefined,
    ]);
    return { ...seen, ...(routing ? { routing } : {}), ...(services ? { services } : {}) };
  }

  #appStatus(name: string, seen: EngineView): AppStatus {
    const cfg = this.#deps.config.apps[name]!;
    const s = this.#deps.store.app(name);
    const poll = this.#polling.last(name);
    const running = this.#deps.locks.current(name);
    // Web's, and a release step's one-off while it runs; probes are not shown, roles have their own list.
    const containers = seen.own.filter((c) => c.labels[AGENT_LABELS.role] !== PROBE_ROLE && appRoleOf(c.labels) === undefined);
    const roles = seen.own.filter((c) => appRoleOf(c.labels) !== undefined);
    const next = this.#opts.nextPoll?.(name);
    const liveProblem = s.live ? this.#opts.liveProblem?.(name) : undefined;
    return {
      app: name,
      backend: cfg.backend,
      image: cfg.image,
      track: cfg.track,
      ...(poll?.resolvedTag ? { resolvedTag: poll.resolvedTag } : {}),
      schedule: cfg.schedule,
      ...(s.live ? { live: s.live } : {}),
      ...(s.pin ? { pin: s.pin } : {}),
      paused: s.pin !== undefined,
      releases: [...s.releases],
      skip: [...s.skip],
      ...(running ? { running: { deployId: running.deployId, step: running.step, version: running.version, trigger: running.trigger, startedAt: running.startedAt } } : {}),
      ...(poll?.at ? { lastPoll: { at: poll.at, ...(poll.digest ? { digest: poll.digest } : {}), ...(poll.error ? { error: poll.error } : {}) } } : {}),
      ...(next ? { nextPoll: next } : {}),
      ...(poll?.retry ? { retrying: this.#retrying(name, poll.retry, next) } : {}),
      containers: containers.map(containerView),
      ...(roles.length > 0 ? { roles: roles.map((c) => this.#roleView(name, c, s.live?.slot)) } : {}),
      ...(seen.services ? { services: seen.services } : {}),
      ...(seen.conflicts.length > 0 ? { conflicts: seen.conflicts.map((c) => ({ name: c.name, id: c.id.slice(0, 12), state: c.state, reason: c.reason })) } : {}),
      ...(seen.routing ? { routing: seen.routing, warnings: routingWarnings(seen.routing) } : {}),
      ...(liveProblem ? { liveProblem } : {}),
      ...this.#polling.gateStatus(name),
      ...(s.watch ? { watch: { deployId: s.watch.deployId, until: s.watch.until, previous: `${s.watch.blue.version} (${s.watch.blue.name})` } } : {}),
    };
  }

  /** A role's container; the one in the live slot carries its problem while the watch sees one. */
  #roleView(app: string, c: ContainerSummary, liveSlot: string | undefined): NonNullable<AppStatus["roles"]>[number] {
    const role = appRoleOf(c.labels)!;
    const problem = liveSlot !== undefined && c.labels[AGENT_LABELS.slot] === liveSlot ? this.#opts.liveProblem?.(app, role) : undefined;
    return { role, ...containerView(c), ...(problem ? { liveProblem: problem } : {}) };
  }

  /** The app's run of failures for `status`, with the next try: the later of its backoff's end and the next poll. */
  #retrying(name: string, r: RetryState, nextPoll: string | undefined): Retrying {
    const nowWall = Date.now();
    const heldMs = Math.max(0, (r.notBeforeMs ?? 0) - this.#now(), this.#deps.registry.heldOffMs?.(this.#deps.config.apps[name]!.image) ?? 0);
    const pollMs = nextPoll ? Math.max(0, Date.parse(nextPoll) - nowWall) : undefined;
    const inMs = pollMs === undefined ? (heldMs > 0 ? heldMs : undefined) : Math.max(heldMs, pollMs);
    return {
      failures: r.failures,
      lastError: r.lastError,
      lastAt: r.lastAt,
      ...(r.digest ? { digest: r.digest } : {}),
      ...(inMs !== undefined ? { nextTryAt: new Date(nowWall + inMs).toISOString(), nextTryInMs: Math.round(inMs) } : {}),
    };
  }
}

/** One container as `status` shows it, from the Engine's list. */
function containerView(c: ContainerSummary): AppStatus["containers"][number] {
  const gen = Number(c.labels[AGENT_LABELS.generation]);
  const digest = c.labels[AGENT_LABELS.digest];
  return {
    name: c.name,
    // A release step's one-off (shown while it runs) has no slot: its role says what it is.
    slot: c.labels[AGENT_LABELS.slot] ?? c.labels[AGENT_LABELS.role] ?? "?",
    state: c.state,
    health: c.health,
    ...(digest ? { digest } : {}),
    ...(Number.isInteger(gen) ? { generation: gen } : {}),
  };
}
