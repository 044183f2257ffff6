// The poll path of the daemon's verbs (service.ts): one poll of one app asks the registry, then
// does what the poll decision (poll-decision.ts) says. Keeps each app's last answer and run of
// failures for `status`, and holds the poll slots, backoffs, gates and failure episodes.
import type { CheckResult, DeployEvent, DeployOutcome } from "../control/api.js";
import type { MonotonicClock } from "../clock.js";
import { toAgentError } from "../errors.js";
import { pinWords, retryWords, skipReasonWords } from "../state/describe.js";
import type { ErrorRecord } from "../state/schema.js";
import { isSkipped } from "../state/transitions.js";
import { runDeploy, short, type DeployDeps } from "./deploy.js";
import { limitConcurrency, type Limiter } from "./limit.js";
import { decidePoll, retryAfterFailure, type PollDecision, type RegistryAnswer, type RetryState } from "./poll-decision.js";
import { DEFAULT_FAILURE_BACKOFF, type FailureBackoffPolicy } from "../registry/retry.js";
import type { Logger } from "../log.js";
import { PollGates } from "./gates.js";
import { PollEpisodes } from "./poll-episode.js";

/** The registry as the service uses it: a tracked tag or semver range to the digest it names now. */
export interface TrackingRegistry {
  resolve(image: string, track: string, opts?: { manual?: boolean }): Promise<{ tag: string; digest: string; indexDigest?: string }>;
  /** How much longer scheduled polls of `image`'s registry are held off after its failures; 0 when they go out. */
  heldOffMs?(image: string): number;
}

/** What the service, its polls and its status report run on. */
export type ServiceDeps = DeployDeps & { registry: DeployDeps["registry"] & TrackingRegistry };

export interface PollState {
  /** The app's run of passing failures (poll-decision.ts); absent when the last poll or deploy went through. */
  retry?: RetryState;
  at?: string;
  digest?: string;
  resolvedTag?: string;
  error?: ErrorRecord;
  /** The digest last reported as skipped, so it is logged once, not on every poll. */
  skippedLogged?: string;
}

export class Polling {
  readonly #deps: ServiceDeps;
  /** Aborted on SIGTERM: running deploys stop at their next safe point. */
  readonly #shutdown: AbortSignal;
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

  /** `timerPoll`: what the gates' timers run; a plain poll of the app unless the daemon gives its own. */
  constructor(deps: ServiceDeps, shutdown: AbortSignal, now: MonotonicClock, timerPoll?: (app: string) => Promise<unknown>) {
    this.#deps = deps;
    this.#shutdown = shutdown;
    this.#pollSlots = limitConcurrency(deps.config.poll.concurrency);
    this.#now = now;
    this.#backoff = { ...DEFAULT_FAILURE_BACKOFF, maxMs: deps.config.poll.maxBackoff };
    this.#gates = new PollGates(deps, timerPoll ?? ((app) => this.poll(app)));
    shutdown.addEventListener("abort", () => this.#gates.stop(), { once: true });
  }

  /** What the last poll of the app found, for `status`; undefined before its first poll. */
  last(name: string): Readonly<PollState> | undefined {
    return this.#polls.get(name);
  }

  /** The app's gates as `status` shows them. */
  gateStatus(name: string): ReturnType<PollGates["status"]> {
    return this.#gates.status(name);
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
    this.#deps.metrics?.pollAnswered(name, answer.ok ? undefined : answer.error.code);
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
        signal: this.#shutdown,
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
}
