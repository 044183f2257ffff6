// Follows green during the watch after a switch (config `watch`, docs/design.md#the-watch-after-the-switch):
// at once on the Engine's events of its container (die, start, health_status), and by an inspect
// every CHECK_MS as the fallback (a stream that broke, an event missed). A failure rolls back
// (deploy/watch.ts); the end of the watch is a timer at `until` that removes blue. The state file
// says which apps are watched, so a watch written by a deploy, or resumed by reconcile, is found
// at the next check without any wiring between them.
import { toAgentError } from "../errors.js";
import type { DeployDeps } from "../deploy/run.js";
import { endWatch, rollBackWatch } from "../deploy/watch.js";
import { greenFailure } from "../deploy/watch-rules.js";
import type { OwnContainerEvent } from "../docker/engine.js";

/** How often a watched green is inspected when no event came. */
const CHECK_MS = 2000;

export class PostSwitchWatch {
  readonly #deps: DeployDeps;
  readonly #ends = new Map<string, { deployId: string; timer: NodeJS.Timeout }>();
  readonly #busy = new Set<string>();
  readonly #judging = new Set<string>();
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
      const stream = await this.#deps.engine.watchOwnContainers((e) => this.#onEvent(e), () => {
        this.#stream?.close();
        this.#stream = undefined;
      });
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
    if (w && e.id === w.greenId) void this.#check(e.app);
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
