// The daemon's verbs (control/api.ts AgentApi) on top of the deploy sequence: which release to
// deploy, pinning, and rollback that sticks. Polls (polling.ts) and `status` (status-report.ts)
// are handed on, so AgentService stays the one object the control server calls.
import type { AgentApi, CheckResult, DeployEvent, DeployOutcome, LogLine, LogsResult, StatusReport } from "../control/api.js";
import { appLogs } from "./app-logs.js";
import { monotonicNow } from "../clock.js";
import { AgentError } from "../errors.js";
import type { DeployRecord, Pin, State } from "../state/schema.js";
import { findRelease, previousRelease, stickRollback } from "../state/transitions.js";
import { runDeploy, short, type DeployDeps, type DeployTarget } from "./deploy.js";
import type { TargetResult } from "../notify/event.js";
import { dropAvailable } from "./gates.js";
import { Polling, type ServiceDeps, type TrackingRegistry } from "./polling.js";
import { StatusReporter, type ReportOptions } from "./status-report.js";

export type { TrackingRegistry } from "./polling.js";

const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export interface ServiceOptions extends ReportOptions {
  /** Aborted on SIGTERM: running deploys stop at their next safe point. */
  shutdown: AbortSignal;
  /**
   * How a gate's timer polls (a window opening, a digest turning old enough): the daemon's own
   * scheduled poll, which waits while the Engine is away, rather than a bare one that would only fail.
   */
  timerPoll?: (app: string) => Promise<unknown>;
}

export class AgentService implements AgentApi {
  readonly #deps: ServiceDeps;
  readonly #opts: ServiceOptions;
  readonly #polling: Polling;
  readonly #report: StatusReporter;

  constructor(deps: DeployDeps & { registry: DeployDeps["registry"] & TrackingRegistry }, opts: ServiceOptions) {
    this.#deps = deps;
    this.#opts = opts;
    // One clock for the backoffs and for `status` saying when they end.
    const now = deps.clock ?? monotonicNow;
    this.#polling = new Polling(deps, opts.shutdown, now, opts.timerPoll);
    this.#report = new StatusReporter(deps, opts, this.#polling, now);
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

  logs(req: { app?: string; role?: string; follow?: boolean; sinceMs?: number; tail?: number }, onLine: (l: LogLine) => void, signal?: AbortSignal): Promise<LogsResult> {
    // A followed log ends when the daemon stops, or the control socket would wait for it to close.
    const until = signal ? AbortSignal.any([signal, this.#opts.shutdown]) : this.#opts.shutdown;
    return appLogs(this.#deps, { ...req, app: this.pickApp(req.app) }, onLine, until);
  }

  async check(req: { app?: string }, onEvent: (e: DeployEvent) => void = () => {}): Promise<CheckResult[]> {
    const names = this.#names(req.app);
    // All apps at once: the poll slots bound the registry checks, and each app's deploy is its own.
    return Promise.all(names.map((name) => this.poll(name, onEvent, { manual: true })));
  }

  /** One poll of one app (polling.ts); what a scheduled tick and `agentctl check` run. */
  poll(name: string, onEvent: (e: DeployEvent) => void = () => {}, opts: { manual?: boolean } = {}): Promise<CheckResult> {
    return this.#polling.poll(name, onEvent, opts);
  }

  async status(req: { app?: string }): Promise<StatusReport> {
    return this.#report.status(this.#names(req.app));
  }

  async history(req: { app?: string; limit?: number }): Promise<DeployRecord[]> {
    return this.#report.history(this.#names(req.app), req.limit);
  }

  /** The app named, or every app. */
  #names(app: string | undefined): string[] {
    return app !== undefined ? [this.pickApp(app)] : Object.keys(this.#deps.config.apps);
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
