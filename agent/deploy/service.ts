// The daemon's verbs (control/api.ts AgentApi) on top of the deploy sequence: which release to
// deploy, pinning, rollback that sticks, and the poll decision. One line per rule, in one place.
import type { AgentApi, AppRouting, AppStatus, CheckResult, DaemonStats, DeployEvent, DeployOutcome, StatusReport } from "../control/api.js";
import { AgentError, toAgentError } from "../errors.js";
import type { Conflict, ContainerSummary } from "../docker/engine.js";
import { AGENT_LABELS, PROBE_ROLE } from "../labels.js";
import { pinWords, skipReasonWords } from "../state/describe.js";
import type { DeployRecord, ErrorRecord, Pin } from "../state/schema.js";
import { addSkip, findRelease, isSkipped, previousRelease } from "../state/transitions.js";
import { runDeploy, short, type DeployDeps, type DeployTarget } from "./deploy.js";
import { limitConcurrency, type Limiter } from "./limit.js";
import { appRouting, routingWarnings } from "./routing.js";

/** The registry as the service uses it: a tracked tag or semver range to the digest it names now. */
export interface TrackingRegistry {
  resolve(image: string, track: string, opts?: { manual?: boolean }): Promise<{ tag: string; digest: string; indexDigest?: string }>;
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
}

export class AgentService implements AgentApi {
  readonly #deps: DeployDeps & { registry: DeployDeps["registry"] & TrackingRegistry };
  readonly #opts: ServiceOptions;
  readonly #polls = new Map<string, PollState>();
  /** Registry checks of polls run at most `poll.concurrency` at once; a deploy that follows holds no slot. */
  readonly #pollSlots: Limiter;

  constructor(deps: DeployDeps & { registry: DeployDeps["registry"] & TrackingRegistry }, opts: ServiceOptions) {
    this.#deps = deps;
    this.#opts = opts;
    this.#pollSlots = limitConcurrency(deps.config.poll.concurrency);
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
      const target: DeployTarget = DIGEST_RE.test(version)
        ? { app: name, trigger: "cli", version, digest: version, onEvent, signal: this.#opts.shutdown }
        : { app: name, trigger: "cli", version, onEvent, signal: this.#opts.shutdown };
      const outcome = await runDeploy(this.#deps, target);
      if (outcome.outcome === "succeeded" || outcome.outcome === "unchanged") {
        await this.#pin(name, { version, deployId: outcome.deployId, ...(outcome.digest ? { digest: outcome.digest } : {}) });
      }
      return outcome;
    }
    // No version: the tracked tag (or the newest tag in the tracked range). Polling resumes for the app.
    const resolved = await this.#deps.registry.resolve(cfg.image, cfg.track, { manual: true });
    const outcome = await runDeploy(this.#deps, {
      app: name,
      trigger: "cli",
      version: resolved.tag,
      digest: resolved.digest,
      ...(resolved.indexDigest ? { indexDigest: resolved.indexDigest } : {}),
      onEvent,
      signal: this.#opts.shutdown,
    });
    if (outcome.outcome === "succeeded" || outcome.outcome === "unchanged") await this.#unpin(name);
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
    const from = appState.live;
    const outcome = await runDeploy(this.#deps, {
      app: name,
      trigger: "rollback",
      version: release.version,
      digest: release.digest,
      ...(release.indexDigest ? { indexDigest: release.indexDigest } : {}),
      imageId: release.imageId,
      onEvent,
      signal: this.#opts.shutdown,
    });
    if (outcome.outcome !== "succeeded" && outcome.outcome !== "unchanged") return outcome;
    // Rollback that sticks: the app is pinned to the release it went back to (as a deploy of that
    // version would pin it), and the poller must not bring back what was rolled back from even
    // after `agentctl resume`.
    const left = from && from.digest !== release.digest ? { version: from.version, digest: from.digest } : undefined;
    await this.#pin(name, { version: release.version, digest: release.digest, deployId: outcome.deployId, ...(left ? { rolledBackFrom: left } : {}) });
    if (left) {
      await this.#deps.store.update((s) =>
        addSkip(s, name, { ...left, reason: "rolled-back", deployId: outcome.deployId, at: new Date().toISOString() }),
      );
    }
    return outcome;
  }

  async resume(req: { app?: string }): Promise<{ app: string; wasPinned: boolean }> {
    const name = this.pickApp(req.app);
    const wasPinned = this.#deps.store.app(name).pin !== undefined;
    await this.#unpin(name);
    return { app: name, wasPinned };
  }

  async check(req: { app?: string }, onEvent: (e: DeployEvent) => void = () => {}): Promise<CheckResult[]> {
    const names = req.app !== undefined ? [this.pickApp(req.app)] : Object.keys(this.#deps.config.apps);
    // All apps at once: the poll slots bound the registry checks, and each app's deploy is its own.
    return Promise.all(names.map((name) => this.poll(name, onEvent, { manual: true })));
  }

  /**
   * One poll of one app: what a scheduled tick does (and `agentctl check`, with `manual`, which also
   * reaches a registry the agent is backing off from). Never throws; the result says what happened.
   */
  async poll(name: string, onEvent: (e: DeployEvent) => void = () => {}, opts: { manual?: boolean } = {}): Promise<CheckResult> {
    const cfg = this.#deps.config.apps[name]!;
    const appState = this.#deps.store.app(name);
    const state = this.#polls.get(name) ?? {};
    this.#polls.set(name, state);
    const log = this.#deps.log.child({ app: name, step: "poll" });
    if (appState.pin) return { app: name, result: "paused", detail: `${pinWords(appState.pin, cfg.track)}; agentctl resume ${name} resumes polling` };
    const running = this.#deps.locks.current(name);
    if (running) return { app: name, result: "busy", detail: `deploy ${running.deployId} is in step ${running.step}` };

    let resolved: { tag: string; digest: string; indexDigest?: string };
    try {
      resolved = await this.#pollSlots(() => this.#deps.registry.resolve(cfg.image, cfg.track, opts));
    } catch (err) {
      const e = toAgentError(err).toJSON();
      // Logged once per episode (a run of failed polls), and again only if the kind of error changes:
      // the same outage on every poll is one problem, not many. `status` always shows the latest error.
      if (state.error?.code !== e.code) log.warn({ code: e.code, err: e.message }, "poll failed");
      else log.debug({ code: e.code, err: e.message }, "poll failed again");
      Object.assign(state, { at: new Date().toISOString(), error: e });
      return { app: name, result: "failed", detail: e.message };
    }
    if (state.error) log.info({ digest: resolved.digest }, "poll works again");
    delete state.error;
    Object.assign(state, { at: new Date().toISOString(), digest: resolved.digest, resolvedTag: resolved.tag });

    if (appState.live?.digest === resolved.digest) return { app: name, result: "unchanged", digest: resolved.digest, detail: `${resolved.tag} is live` };
    if (isSkipped(appState, resolved.digest)) {
      const entry = appState.skip.find((s) => s.digest === resolved.digest);
      if (state.skippedLogged !== resolved.digest) {
        log.info({ digest: resolved.digest, reason: entry?.reason }, "digest skipped: not redeployed by polling");
        state.skippedLogged = resolved.digest;
      }
      return {
        app: name,
        result: "skipped",
        digest: resolved.digest,
        detail: `${resolved.tag} (${short(resolved.digest)}) is skipped: ${skipReasonWords(entry?.reason ?? "failed")}; agentctl deploy ${name} ${resolved.tag} retries it`,
      };
    }
    let deploy: DeployOutcome;
    try {
      deploy = await runDeploy(this.#deps, {
        app: name,
        trigger: "poll",
        version: resolved.tag,
        digest: resolved.digest,
        ...(resolved.indexDigest ? { indexDigest: resolved.indexDigest } : {}),
        onEvent,
        signal: this.#opts.shutdown,
      });
    } catch (err) {
      const e = toAgentError(err);
      return { app: name, result: e.code === "DEPLOY_LOCKED" ? "busy" : "failed", digest: resolved.digest, detail: e.message };
    }
    return {
      app: name,
      result: deploy.outcome === "succeeded" ? "deployed" : deploy.outcome === "unchanged" ? "unchanged" : "failed",
      digest: resolved.digest,
      detail: deploy.error?.message ?? `${resolved.tag} (${short(resolved.digest)}) ${deploy.outcome}`,
      deploy,
    };
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
    const report = { version: this.#opts.version, pid: process.pid, startedAt: this.#opts.startedAt, ...(daemon ? { daemon } : {}), apps };
    return engineError ? { ...report, engineError } : report;
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
    };
  }

  async #pin(app: string, pin: Omit<Pin, "since">): Promise<void> {
    await this.#deps.store.update((s) => {
      const a = s.apps[app];
      if (a) a.pin = { ...pin, since: new Date().toISOString() };
    });
  }

  async #unpin(app: string): Promise<void> {
    if (!this.#deps.store.app(app).pin) return;
    await this.#deps.store.update((s) => {
      const a = s.apps[app];
      if (a) delete a.pin;
    });
  }
}
