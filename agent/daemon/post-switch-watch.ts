// Follows green during the watch after a switch (config `watch`, docs/design.md#the-watch-after-the-switch):
// at once on the Engine's events of its container (die, start, health_status), and by an inspect
// every CHECK_MS as the fallback (a stream that broke, an event missed). A failure rolls back
// (deploy/watch.ts); the end of the watch is a timer at `until` that removes blue. The state file
// says which apps are watched, so a watch written by a deploy, or resumed by reconcile, is found
// at the next check without any wiring between them.
import { toAgentError } from "../errors.js";
import type { DeployDeps } from "../deploy/run.js";
import { endWatch, rollBackWatch } from "../deploy/watch.js";
import { greenFailure, greenPassesAgain, isFailedCheck } from "../deploy/watch-rules.js";
import type { OwnContainerEvent } from "../docker/engine.js";

/** How often a watched green is inspected when no event came. */
const CHECK_MS = 2000;

export class PostSwitchWatch {
  readonly #deps: DeployDeps;
  readonly #ends = new Map<string, { deployId: string; timer: NodeJS.Timeout }>();
  readonly #busy = new Set<string>();
  readonly #judging = new Set<string>();
  /** Apps whose kept release was started in reserve after a failed health check of green, by watch (deploy id). */
  readonly #reserve = new Map<string, string>();
  #stream: { close(): void } | undefined;
  #opening = false;
  #tick: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(deps: DeployDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.#tick = setInterval(() => this.#checkAll(), CHECK_MS);
    this.#checkAll();
  }

  stop(): void {
    this.#stopped = true;
    clearInterval(this.#tick);
    for (const { timer } of this.#ends.values()) clearTimeout(timer);
    this.#ends.clear();
    this.#stream?.close();
    this.#stream = undefined;
  }

  #watched(): string[] {
    return Object.keys(this.#deps.config.apps).filter((app) => this.#deps.store.app(app).watch !== undefined);
  }

  #checkAll(): void {
    const apps = this.#watched();
    if (apps.length > 0 && !this.#stream) void this.#open();
    // No watch open: the Engine's stream is given back, so an idle daemon holds none.
    if (apps.length === 0 && this.#stream) {
      this.#stream.close();
      this.#stream = undefined;
    }
    for (const [app, deployId] of this.#reserve) if (this.#deps.store.app(app).watch?.deployId !== deployId) this.#reserve.delete(app);
    for (const [app, end] of this.#ends) {
      if (this.#deps.store.app(app).watch?.deployId !== end.deployId) {
        clearTimeout(end.timer);
        this.#ends.delete(app);
      }
    }
    for (const app of apps) void this.#check(app);
  }

  async #open(): Promise<void> {
    if (this.#opening || this.#stopped) return;
    this.#opening = true;
    try {
      const stream = await this.#deps.engine.watchOwnContainers(
        (e) => this.#onEvent(e),
        () => {
          this.#stream?.close();
          this.#stream = undefined;
        },
        { healthChecks: true },
      );
      if (this.#stopped) stream.close();
      else this.#stream = stream;
    } catch (err) {
      // The inspect every CHECK_MS goes on; the stream is tried again at the next check.
      this.#deps.log.debug({ err: toAgentError(err).message }, "the watch after the switch could not open the Engine's event stream");
    } finally {
      this.#opening = false;
    }
  }

  #onEvent(e: OwnContainerEvent): void {
    const w = this.#deps.store.app(e.app).watch;
    if (!w || e.id !== w.greenId) return;
    if (isFailedCheck(e)) void this.#startReserve(e.app, w.deployId);
    else if (e.action !== "exec_die") void this.#check(e.app);
  }

  /**
   * One of green's health checks failed. Docker calls green unhealthy only after `Retries` (3) of
   * them, and from then until blue is healthy no release is routed; blue started now is healthy
   * by then, so Traefik goes straight over to it. While green passes, blue's router ranks below
   * green's and gets no request; blue is stopped again once green passes again (#check).
   */
  async #startReserve(app: string, deployId: string): Promise<void> {
    const w = this.#deps.store.app(app).watch;
    if (this.#stopped || this.#reserve.has(app) || this.#busy.has(app) || this.#deps.locks.current(app) || w?.deployId !== deployId || w.rollingBack) return;
    this.#reserve.set(app, deployId);
    try {
      await this.#deps.engine.start(app, w.blue.id);
      this.#deps.log.warn({ app, deployId, container: w.blue.name }, "a health check of the new release failed during the watch; the previous release is started in reserve");
    } catch (err) {
      this.#reserve.delete(app);
      this.#deps.log.warn({ app, deployId, err: toAgentError(err).message }, "could not start the previous release in reserve; it is started if the new release fails");
    }
  }

  /** Green passes again: the reserve goes back to being stopped. */
  async #stopReserve(app: string): Promise<void> {
    const w = this.#deps.store.app(app).watch;
    if (!w || this.#reserve.get(app) !== w.deployId || !greenPassesAgain(await this.#deps.engine.inspect(w.greenId))) return;
    await this.#locked(app, w.deployId, async () => {
      await this.#deps.engine.stop(app, w.blue.id, this.#deps.config.apps[app]?.stopTimeout ?? 10_000);
      this.#reserve.delete(app);
      this.#deps.log.info({ app, deployId: w.deployId, container: w.blue.name }, "the new release passes its health checks again; the previous release is stopped again");
    });
  }

  /** Arms the end of the app's watch, then judges green; a failure rolls back under the deploy lock. */
  async #check(app: string): Promise<void> {
    const w = this.#deps.store.app(app).watch;
    if (!w || this.#stopped || this.#busy.has(app)) return;
    if (this.#ends.get(app)?.deployId !== w.deployId) {
      clearTimeout(this.#ends.get(app)?.timer);
      const timer = setTimeout(() => void this.#locked(app, w.deployId, () => endWatch(this.#deps, app, "its time is up", { keepOnEngineError: true })), Math.max(0, Date.parse(w.until) - Date.now()));
      this.#ends.set(app, { deployId: w.deployId, timer });
    }
    if (Date.now() >= Date.parse(w.until)) return this.#locked(app, w.deployId, () => endWatch(this.#deps, app, "its time is up", { keepOnEngineError: true }));
    // A green stopped by a signal makes checkRunning wait to see whether dockerd is stopping: one judgement at a time.
    if (this.#judging.has(app)) return;
    this.#judging.add(app);
    let reason: string | undefined;
    try {
      reason = await this.#judge(app, w.greenId);
    } catch (err) {
      // An Engine that does not answer, or dockerd stopping every container, says nothing about
      // green; reconcile judges it when the Engine is back.
      return this.#deps.log.debug({ app, err: toAgentError(err).message }, "the watched release could not be judged");
    } finally {
      this.#judging.delete(app);
    }
    if (reason) await this.#locked(app, w.deployId, () => rollBackWatch(this.#deps, app, reason));
    else if (this.#reserve.has(app)) await this.#stopReserve(app).catch((err: unknown) => this.#deps.log.debug({ app, err: toAgentError(err).message }, "the reserve could not be stopped; the next check tries again"));
  }

  /**
   * Why green failed, or undefined while it serves. checkRunning tells a green stopped by dockerd
   * stopping (ENGINE_UNAVAILABLE, thrown on) from one that exited by itself.
   */
  async #judge(app: string, greenId: string): Promise<string | undefined> {
    try {
      await this.#deps.engine.checkRunning(greenId, `the new release of ${app}`);
      return undefined;
    } catch (err) {
      const e = toAgentError(err);
      if (e.code !== "GREEN_EXITED" && e.code !== "GREEN_UNHEALTHY") throw e;
    }
    return greenFailure(await this.#deps.engine.inspect(greenId)) ?? `the new release of ${app} failed its check`;
  }

  /**
   * Runs `fn` under the app's deploy lock when the watch is still the one seen. A deploy holding
   * the lock ends the watch itself; a reconcile holding it settles it; the next check looks again.
   */
  async #locked(app: string, deployId: string, fn: () => Promise<unknown>): Promise<void> {
    if (this.#busy.has(app) || this.#deps.locks.current(app)) return;
    this.#busy.add(app);
    const release = this.#deps.locks.acquire(app, { deployId, version: "watch", trigger: "rollback", step: "record", startedAt: new Date().toISOString() });
    try {
      if (this.#deps.store.app(app).watch?.deployId === deployId) await fn();
    } catch (err) {
      this.#deps.log.error({ app, deployId, err: toAgentError(err).message }, "the watch after the switch failed; reconcile settles the app at the next start");
    } finally {
      release();
      this.#busy.delete(app);
    }
  }
}
