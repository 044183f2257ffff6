// The daemon's verbs (control/api.ts AgentApi) on top of the deploy sequence: which release to
// deploy, pinning, rollback that sticks, and the poll decision. One line per rule, in one place.
import type { AgentApi, AppRouting, AppStatus, Retrying, CheckResult, DaemonStats, DeployEvent, DeployOutcome, StatusReport } from "../control/api.js";
import { monotonicNow, type MonotonicClock } from "../clock.js";
import { AgentError, toAgentError } from "../errors.js";
import type { Conflict, ContainerSummary } from "../docker/engine.js";
import { AGENT_LABELS, PROBE_ROLE } from "../labels.js";
import { pinWords, retryWords, skipReasonWords } from "../state/describe.js";
import type { DeployRecord, ErrorRecord, Pin, State } from "../state/schema.js";
import { findRelease, isSkipped, previousRelease, stickRollback } from "../state/transitions.js";
import { runDeploy, short, type DeployDeps, type DeployTarget } from "./deploy.js";
import { limitConcurrency, type Limiter } from "./limit.js";
import { decidePoll, retryAfterFailure, type PollDecision, type RegistryAnswer, type RetryState } from "./poll-decision.js";
import { DEFAULT_FAILURE_BACKOFF, type FailureBackoffPolicy } from "../registry/retry.js";
import type { Logger } from "../log.js";
import type { TargetResult } from "../notify/event.js";
import { appRouting, routingWarnings } from "./routing.js";
import { dropAvailable, PollGates } from "./gates.js";
import { PollEpisodes } from "./poll-episode.js";

/** The registry as the service uses it: a tracked tag or semver range to the digest it names now. */
export interface TrackingRegistry {
  resolve(image: string, track: string, opts?: { manual?: boolean }): Promise<{ tag: string; digest: string; indexDigest?: string }>;
  /** How much longer scheduled polls of `image`'s registry are held off after its failures; 0 when they go out. */
  heldOffMs?(image: string): number;
}

/**
 * How long `status` waits for the Engine's container list: status must answer within a few seconds
 * even when the Engine does not (it then reports the Engine as not answering).
 */
const STATUS_ENGINE_TIMEOUT_MS = 2000;

const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

/** What `status` shows of the Engine for one app. */
interface EngineView {
  own: ContainerSummary[];
  conflicts: Conflict[];
  /** Left out when the app has no route, or the Engine did not answer the look for Traefik. */
  routing?: AppRouting;
}

interface PollState {
  /** The app's run of passing failures (poll-decision.ts); absent when the last poll or deploy went through. */
  retry?: RetryState;
  at?: string;
  digest?: string;
  resolvedTag?: string;
  error?: ErrorRecord;
  /** The digest last reported as skipped, so it is logged once, not on every poll. */
  skippedLogged?: string;
}

export interface ServiceOptions {
  version: string;
  startedAt: string;
  /** Aborted on SIGTERM: running deploys stop at their next safe point. */
  shutdown: AbortSignal;
  nextPoll?: (app: string) => string | undefined;
  /** The process's own resources, for `status` to report. */
  daemonStats?: () => DaemonStats;
  /** The live release not serving by itself, as the daemon's watch of the live releases sees it. */
  liveProblem?: (app: string) => AppStatus["liveProblem"];
}

export class AgentService implements AgentApi {
  readonly #deps: DeployDeps & { registry: DeployDeps["registry"] & TrackingRegistry };
  readonly #opts: ServiceOptions;
  readonly #polls = new Map<string, PollState>();
  /** Registry checks of polls run at most `poll.concurrency` at once; a deploy that follows holds no slot. */
  readonly #pollSlots: Limiter;
  /** The monotonic clock backoffs run on (agent/clock.ts), injectable as the deploy's is. */
  readonly #now: MonotonicClock;
  /** How long a digest whose deploy failed for a passing reason is held off: 5 s doubling, at most `poll.maxBackoff`. */
  readonly #backoff: FailureBackoffPolicy;
  /** mode, window and minAge (gates.ts); its timers end with the daemon. */
  readonly #gates: PollGates;
  /** Runs of failed polls, for `poll-failing` and `poll-recovered` (one each per run). */
  readonly #episodes = new PollEpisodes();

  constructor(deps: DeployDeps & { registry: DeployDeps["registry"] & TrackingRegistry }, opts: ServiceOptions) {
    this.#deps = deps;
    this.#opts = opts;
    this.#pollSlots = limitConcurrency(deps.config.poll.concurrency);
    this.#now = deps.clock ?? monotonicNow;
    this.#backoff = { ...DEFAULT_FAILURE_BACKOFF, maxMs: deps.config.poll.maxBackoff };
    this.#gates = new PollGates(deps, (app) => this.poll(app));
    opts.shutdown.addEventListener("abort", () => this.#gates.stop(), { once: true });
  }

  /** The app named, or the only app; a clear error otherwise. */
  pickApp(app: string | undefined): string {
    const names = Object.keys(this.#deps.config.apps);
    if (app === undefined) {
      if (names.length === 1 && names[0]) return names[0];
      throw new AgentError("BAD_ARGUMENT", `app: more than one app is configured (${names.join(", ")}); name one`);
    }
    if (!this.#deps.config.apps[app]) {
      throw new AgentError("BAD_ARGUMENT", `app: no app named "${app}" in the config (apps: ${names.join(", ")})`);
    }
    return app;
  }

  async deploy(req: { app?: string; version?: string }, onEvent: (e: DeployEvent) => void): Promise<DeployOutcome> {
    let { app, version } = req;
    // `agentctl deploy web` sends "web" as the version; it names an app, so deploy that app's tracked tag.
    if (app === undefined && version !== undefined && this.#deps.config.apps[version]) [app, version] = [version, undefined];
    const name = this.pickApp(app);
    const cfg = this.#deps.config.apps[name]!;
    if (version !== undefined) {
      if (!TAG_RE.test(version) && !DIGEST_RE.test(version)) {
        throw new AgentError("BAD_ARGUMENT", `version: "${version}" is not a tag (letters, digits, _ . -; at most 128) nor a sha256 digest`);
      }
      // Pinned in the same update that makes the release live, under the deploy lock.
      const onLive = (s: State, live: { deployId: string; digest: string }) => setPin(s, name, { version, deployId: live.deployId, digest: live.digest });
      const target: DeployTarget = DIGEST_RE.test(version)
        ? { app: name, trigger: "cli", version, digest: version, onEvent, signal: this.#opts.shutdown, onLive }
        : { app: name, trigger: "cli", version, onEvent, signal: this.#opts.shutdown, onLive };
      return runDeploy(this.#deps, target);
    }
    // No version: a notify-mode app's available release, else the tracked tag (or the newest tag in the tracked range). Polling resumes for the app.
    const available = cfg.mode === "notify" ? this.#deps.store.app(name).available : undefined;
    const resolved = available ? { tag: available.version, ...available } : await this.#deps.registry.resolve(cfg.image, cfg.track, { manual: true });
    const outcome = await runDeploy(this.#deps, {
      app: name,
      trigger: "cli",
      version: resolved.tag,
      digest: resolved.digest,
      ...(resolved.indexDigest ? { indexDigest: resolved.indexDigest } : {}),
      onEvent,
      signal: this.#opts.shutdown,
      onLive: (s, live) => {
        delete s.apps[name]?.pin;
        dropAvailable(s, name, live.digest);
      },
    });
    return outcome;
  }

  async rollback(req: { app?: string; to?: string }, onEvent: (e: DeployEvent) => void): Promise<DeployOutcome> {
    const name = this.pickApp(req.app);
    const appState = this.#deps.store.app(name);
    const release = req.to !== undefined ? findRelease(appState, req.to) : previousRelease(appState);
    if (!release) {
      const kept = appState.releases.map((r) => `${r.version} (${short(r.digest)})`).join(", ") || "none";
      throw new AgentError(
        "NO_RELEASE",
        req.to !== undefined
          ? `rollback: no release "${req.to}" of ${name} is kept on this host (kept: ${kept})`
          : `rollback: ${name} has no earlier release on this host to go back to (kept: ${kept})`,
        { hint: "agentctl history shows past deploys; agentctl deploy <version> deploys any tag from the registry" },
      );
    }
    // Rollback that sticks (state/transitions.ts stickRollback), written with the switch itself,
    // under the deploy lock, so no poll can land in between and deploy again what was rolled back.
    return runDeploy(this.#deps, {
      app: name,
      trigger: "rollback",
      version: release.version,
      digest: release.digest,
      ...(release.indexDigest ? { indexDigest: release.indexDigest } : {}),
      imageId: release.imageId,
      onEvent,
      signal: this.#opts.shutdown,
      onLive: (s, live) => stickRollback(s, name, { version: release.version, digest: release.digest, deployId: live.deployId }, new Date().toISOString()),
    });
  }

  async resume(req: { app?: string }): Promise<{ app: string; wasPinned: boolean }> {
    const name = this.pickApp(req.app);
    const wasPinned = this.#deps.store.app(name).pin !== undefined;
    await this.#unpin(name);
    return { app: name, wasPinned };
  }

  async notify(_req: { action: "test" }): Promise<TargetResult[]> {
    const names = Object.keys(this.#deps.config.apps);
    return (await this.#deps.notify?.test?.(names.length === 1 ? names[0]! : "*")) ?? [];
  }

  async check(req: { app?: string }, onEvent: (e: DeployEvent) => void = () => {}): Promise<CheckResult[]> {
    const names = req.app !== undefined ? [this.pickApp(req.app)] : Object.keys(this.#deps.config.apps);
    // All apps at once: the poll slots bound the registry checks, and each app's deploy is its own.
    return Promise.all(names.map((name) => this.poll(name, onEvent, { manual: true })));
  }

  /**
   * One poll of one app: what a scheduled tick does (and `agentctl check`, with `manual`, which also
   * reaches a registry the agent is backing off from, and deploys a digest held off after a failed
   * deploy). Never throws; the result says what happened. The rules are in poll-decision.ts.
   */
  async poll(name: string, onEvent: (e: DeployEvent) => void = () => {}, opts: { manual?: boolean } = {}): Promise<CheckResult> {
    const cfg = this.#deps.config.apps[name]!;
    const state = this.#polls.get(name) ?? {};
    this.#polls.set(name, state);
    const log = this.#deps.log.child({ app: name, step: "poll" });
    const manual = opts.manual ?? false;
    const ask = (answer?: RegistryAnswer): PollDecision =>
      decidePoll({ app: this.#deps.store.app(name), running: this.#deps.locks.current(name), retry: state.retry, answer, nowMs: this.#now(), manual, gate: this.#gates.input(name) });

    const first = ask();
    if (first.kind === "paused") return { app: name, result: "paused", detail: `${pinWords(this.#deps.store.app(name).pin!, cfg.track)}; agentctl resume ${name} resumes polling` };
    if (first.kind === "busy") return { app: name, result: "busy", detail: `deploy ${first.deployId} is in step ${first.step}` };

    const answer = await this.#pollSlots(() => this.#deps.registry.resolve(cfg.image, cfg.track, opts)).then(
      (r): RegistryAnswer => ({ ok: true, tag: r.tag, digest: r.digest, ...(r.indexDigest ? { indexDigest: r.indexDigest } : {}) }),
      (err: unknown): RegistryAnswer => ({ ok: false, error: toAgentError(err).toJSON() }),
    );
    this.#notePollAnswer(name, state, answer, log);
    await this.#gates.noteSeen(name, answer);
    const episode = this.#episodes.note(name, answer);
    if (episode) this.#deps.notify?.send(episode);
    const d = ask(answer);
    await this.#gates.settle(name, d);
    switch (d.kind) {
      case "paused":
      case "busy":
      case "resolve":
        // The app was pinned or a deploy began while the registry answered: the next poll sees it.
        return { app: name, result: d.kind === "busy" ? "busy" : "paused", detail: "changed while the registry was asked; the next poll decides" };
      case "failed":
        return { app: name, result: "failed", detail: d.error.message };
      case "unchanged":
        delete state.retry;
        return { app: name, result: "unchanged", digest: d.digest, detail: `${d.tag} is live` };
      case "skipped":
        return this.#skipped(name, state, d.tag, d.digest, log);
      case "backing-off": {
        const r = state.retry!;
        return { app: name, result: "failed", digest: d.digest, detail: `${retryWords(r.failures, r.lastError)}; next try in ${Math.ceil(d.waitMs / 1000)}s (agentctl check ${name} tries now)` };
      }
      case "available":
        return this.#gates.available(name, d, answer as RegistryAnswer & { ok: true });
      case "too-young":
      case "waiting-window":
        return this.#gates.held(name, d);
      case "deploy":
        return this.#pollDeploy(name, state, answer as RegistryAnswer & { ok: true }, onEvent);
    }
  }

  /** Keeps the poll's answer for `status`; logs a failure once per episode, and the end of one. */
  #notePollAnswer(name: string, state: PollState, answer: RegistryAnswer, log: Logger): void {
    const at = new Date().toISOString();
    if (!answer.ok) {
      const e = answer.error;
      // Logged once per episode (a run of failed polls), and again only if the kind of error changes:
      // the same outage on every poll is one problem, not many. `status` always shows the latest error.
      if (state.error?.code !== e.code) log.warn({ code: e.code, err: e.message }, "poll failed");
      else log.debug({ code: e.code, err: e.message }, "poll failed again");
      Object.assign(state, { at, error: e });
      state.retry = retryAfterFailure(state.retry, { error: e, at, nowMs: this.#now() }, this.#backoff);
      return;
    }
    if (state.error) log.info({ digest: answer.digest }, "poll works again");
    delete state.error;
    Object.assign(state, { at, digest: answer.digest, resolvedTag: answer.tag });
  }

  #skipped(name: string, state: PollState, tag: string, digest: string, log: Logger): CheckResult {
    const entry = this.#deps.store.app(name).skip.find((s) => s.digest === digest);
    if (state.skippedLogged !== digest) {
      log.info({ digest, reason: entry?.reason }, "digest skipped: not redeployed by polling");
      state.skippedLogged = digest;
    }
    // A skipped digest is not being retried: whatever run of failures led here is over.
    delete state.retry;
    return {
      app: name,
      result: "skipped",
      digest,
      detail: `${tag} (${short(digest)}) is skipped: ${skipReasonWords(entry?.reason ?? "failed")}; agentctl deploy ${name} ${tag} retries it`,
    };
  }

  async #pollDeploy(name: string, state: PollState, answer: RegistryAnswer & { ok: true }, onEvent: (e: DeployEvent) => void): Promise<CheckResult> {
    let deploy: DeployOutcome;
    try {
      deploy = await runDeploy(this.#deps, {
        app: name,
        trigger: "poll",
        version: answer.tag,
        digest: answer.digest,
        ...(answer.indexDigest ? { indexDigest: answer.indexDigest } : {}),
        onEvent,
        signal: this.#opts.shutdown,
      });
    } catch (err) {
      const e = toAgentError(err);
      return { app: name, result: e.code === "DEPLOY_LOCKED" ? "busy" : "failed", digest: answer.digest, detail: e.message };
    }
    this.#noteDeploy(name, state, deploy);
    return {
      app: name,
      result: deploy.outcome === "succeeded" ? "deployed" : deploy.outcome === "unchanged" ? "unchanged" : "failed",
      digest: answer.digest,
      detail: deploy.error?.message ?? `${answer.tag} (${short(answer.digest)}) ${deploy.outcome}`,
      deploy,
    };
  }

  /** A deploy that failed without skipping its digest is tried again by later polls, after a backoff. */
  #noteDeploy(name: string, state: PollState, deploy: DeployOutcome): void {
    if (deploy.outcome === "aborted") return;
    if (deploy.outcome !== "failed" || !deploy.error || !deploy.digest || isSkipped(this.#deps.store.app(name), deploy.digest)) {
      delete state.retry;
      return;
    }
    state.retry = retryAfterFailure(state.retry, { error: deploy.error, at: new Date().toISOString(), nowMs: this.#now(), digest: deploy.digest }, this.#backoff);
    const waitMs = Math.max(0, (state.retry.notBeforeMs ?? 0) - this.#now());
    this.#deps.log.warn(
      { app: name, code: deploy.error.code, failures: state.retry.failures, retryInMs: Math.round(waitMs), digest: deploy.digest },
      "deploy failed for a passing reason; polling tries the digest again after a backoff",
    );
  }

  async status(req: { app?: string }): Promise<StatusReport> {
    const names = req.app !== undefined ? [this.pickApp(req.app)] : Object.keys(this.#deps.config.apps);
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

  async history(req: { app?: string; limit?: number }): Promise<DeployRecord[]> {
    const names = req.app !== undefined ? [this.pickApp(req.app)] : Object.keys(this.#deps.config.apps);
    const all = names.flatMap((n) => this.#deps.store.app(n).history);
    all.sort((a, b) => (a.startedAt < b.startedAt ? 1 : a.startedAt > b.startedAt ? -1 : Number(b.id) - Number(a.id)));
    return all.slice(0, req.limit ?? 20);
  }

  async #engineView(name: string): Promise<EngineView> {
    const timeoutMs = Math.min(STATUS_ENGINE_TIMEOUT_MS, this.#deps.config.docker.timeout);
    const [seen, routing] = await Promise.all([
      this.#deps.engine.summary(name, timeoutMs),
      appRouting(this.#deps.engine, this.#deps.config, name, timeoutMs).catch(() => undefined),
    ]);
    return routing ? { ...seen, routing } : seen;
  }

  #appStatus(name: string, seen: EngineView): AppStatus {
    const cfg = this.#deps.config.apps[name]!;
    const s = this.#deps.store.app(name);
    const poll = this.#polls.get(name);
    const running = this.#deps.locks.current(name);
    const containers = seen.own.filter((c) => c.labels[AGENT_LABELS.role] !== PROBE_ROLE);
    const next = this.#opts.nextPoll?.(name);
    const liveProblem = s.live ? this.#opts.liveProblem?.(name) : undefined;
    return {
      app: name,
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
      containers: containers.map((c) => {
        const gen = Number(c.labels[AGENT_LABELS.generation]);
        const digest = c.labels[AGENT_LABELS.digest];
        return {
          name: c.name,
          slot: c.labels[AGENT_LABELS.slot] ?? "?",
          state: c.state,
          health: c.health,
          ...(digest ? { digest } : {}),
          ...(Number.isInteger(gen) ? { generation: gen } : {}),
        };
      }),
      ...(seen.conflicts.length > 0 ? { conflicts: seen.conflicts.map((c) => ({ name: c.name, id: c.id.slice(0, 12), state: c.state, reason: c.reason })) } : {}),
      ...(seen.routing ? { routing: seen.routing, warnings: routingWarnings(seen.routing) } : {}),
      ...(liveProblem ? { liveProblem } : {}),
      ...this.#gates.status(name),
      ...(s.watch ? { watch: { deployId: s.watch.deployId, until: s.watch.until, previous: `${s.watch.blue.version} (${s.watch.blue.name})` } } : {}),
    };
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

  async #unpin(app: string): Promise<void> {
    if (!this.#deps.store.app(app).pin) return;
    await this.#deps.store.update((s) => {
      const a = s.apps[app];
      if (a) delete a.pin;
    });
  }
}

function setPin(s: State, app: string, pin: Omit<Pin, "since">): void {
  const a = s.apps[app];
  if (a) a.pin = { ...pin, since: new Date().toISOString() };
}
