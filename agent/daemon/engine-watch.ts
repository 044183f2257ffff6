// The Engine going away and coming back (dockerd restarted by unattended-upgrades, hung, or
// stopped): the agent does not exit. It says so once per episode, pings with backoff until the
// Engine answers, then reconciles every app (their containers stopped with dockerd), and says
// the Engine is back. Polls wait meanwhile. `decide` holds the rules; EngineWatch runs them.
import { monotonicNow } from "../clock.js";
import { toAgentError } from "../errors.js";
import type { Logger } from "../log.js";
import { sleep } from "../sleep.js";

/** First wait before pinging a gone Engine again; doubled each failure up to MAX. */
export const FIRST_RETRY_MS = 1000;
export const MAX_RETRY_MS = 15_000;

export type WatchState = { phase: "up" } | { phase: "down"; since: number; failures: number };

export type WatchEvent =
  | { type: "lost"; why: string; at: number }
  /** The ping answered and the event stream is open again. */
  | { type: "answered"; at: number }
  | { type: "still-gone"; at: number }
  | { type: "reconciled"; at: number }
  /** Reconcile failed on something other than the Engine being gone: the Engine is up all the same. */
  | { type: "reconcile-failed"; at: number };

export interface Decision {
  state: WatchState;
  /** What to log: the one warning that starts an episode, or the one line that ends it. */
  say?: "gone" | "back";
  /** What to do next: ping again after `delayMs`, reconcile every app, or nothing. */
  next: "ping" | "reconcile" | "none";
  delayMs?: number;
  /** How long the Engine was away, for "back". */
  downMs?: number;
}

/** The wait before the `failures`-th retry: 1 s, 2 s, 4 s … up to 15 s. */
export function retryDelayMs(failures: number): number {
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, failures));
}

/**
 * One step of the watch. A loss while already down is the same episode (no second warning); the
 * Engine answering leads to a reconcile, and only a finished reconcile ends the episode, so an
 * Engine that goes again in the middle of it stays one episode with one warning.
 */
export function decide(state: WatchState, event: WatchEvent): Decision {
  switch (event.type) {
    case "lost":
      if (state.phase === "down") return { state, next: "none" };
      return { state: { phase: "down", since: event.at, failures: 0 }, say: "gone", next: "ping", delayMs: retryDelayMs(0) };
    case "still-gone":
      if (state.phase !== "down") return { state: { phase: "down", since: event.at, failures: 0 }, say: "gone", next: "ping", delayMs: retryDelayMs(0) };
      return { state: { ...state, failures: state.failures + 1 }, next: "ping", delayMs: retryDelayMs(state.failures + 1) };
    case "answered":
      return { state, next: state.phase === "down" ? "reconcile" : "none" };
    case "reconciled":
    case "reconcile-failed":
      if (state.phase !== "down") return { state, next: "none" };
      return { state: { phase: "up" }, say: "back", next: "none", downMs: event.at - state.since };
  }
}

export interface EngineWatchDeps {
  /** Resolves when the Engine answers; throws otherwise. */
  ping(): Promise<void>;
  /** Opens the stream whose end means the Engine went; throws when the Engine is not there. */
  watch(onEnd: (why: string) => void): Promise<{ close(): void }>;
  /** Reconciles every app; throws ENGINE_UNAVAILABLE when the Engine went again meanwhile. */
  reconcileAll(): Promise<void>;
  log: Logger;
  socketPath: string;
  /** A monotonic clock in ms (performance.now): downtime must not jump with the wall clock. */
  now?: () => number;
}

export class EngineWatch {
  readonly #deps: EngineWatchDeps;
  readonly #stopping = new AbortController();
  #state: WatchState = { phase: "up" };
  #stream: { close(): void } | undefined;
  #recovery: Promise<void> | undefined;
  /** Set while #recover runs; cleared in the same turn as its loop ends, so a loss right after starts a new one. */
  #recovering = false;
  #suspecting = false;

  constructor(deps: EngineWatchDeps) {
    this.#deps = deps;
  }

  /** False from the moment the Engine is seen gone until it answers and every app is reconciled. */
  get available(): boolean {
    return this.#state.phase === "up";
  }

  /**
   * Watches the Engine's event stream; an Engine not there now starts an episode at once. The
   * daemon does not wait for this before it reports ready (an Engine that answers calls but holds
   * the stream would hold start-up for docker.timeout), so a stream that opens after stop() closes.
   */
  async start(): Promise<void> {
    try {
      const stream = await this.#deps.watch((why) => this.lost(why));
      if (this.#stopping.signal.aborted) stream.close();
      else this.#stream = stream;
    } catch (err) {
      this.lost(toAgentError(err).message);
    }
  }

  /** Something saw the Engine gone (its event stream ended, a deploy got ENGINE_UNAVAILABLE). */
  lost(why: string): void {
    if (this.#stopping.signal.aborted) return;
    this.#apply(decide(this.#state, { type: "lost", why, at: this.#now() }), why);
    if (!this.#recovering) {
      this.#recovering = true;
      this.#recovery = this.#recover();
    }
  }

  /**
   * A deploy failed with ENGINE_UNAVAILABLE. A hung dockerd keeps its event stream open, so only a
   * ping tells: one that fails starts an episode; one that answers (a green stopped while dockerd
   * was stopping, before its API closed) leaves it to the stream's end.
   */
  async suspect(why: string): Promise<void> {
    if (this.#state.phase !== "up" || this.#suspecting || this.#stopping.signal.aborted) return;
    this.#suspecting = true;
    try {
      await this.#deps.ping();
    } catch {
      this.lost(why);
    } finally {
      this.#suspecting = false;
    }
  }

  async stop(): Promise<void> {
    this.#stopping.abort();
    this.#stream?.close();
    await this.#recovery?.catch(() => undefined);
  }

  /** Pings with backoff until the Engine answers, then reconciles; loops until the episode ends. */
  async #recover(): Promise<void> {
    let delayMs = retryDelayMs(0);
    // The flag drops in the same turn as the loop's last check, so a loss just after starts a new loop.
    try {
      while (this.#state.phase === "down" && !this.#stopping.signal.aborted) {
        await sleep(delayMs, this.#stopping.signal);
        if (this.#stopping.signal.aborted) return;
        if (!(await this.#answers())) {
          delayMs = this.#apply(decide(this.#state, { type: "still-gone", at: this.#now() })).delayMs ?? delayMs;
          continue;
        }
        this.#apply(decide(this.#state, { type: "answered", at: this.#now() }));
        delayMs = (await this.#reconcile()) ?? delayMs;
      }
    } finally {
      this.#recovering = false;
    }
  }

  /** Reconciles every app; returns the next delay when the Engine went again meanwhile. */
  async #reconcile(): Promise<number | undefined> {
    try {
      await this.#deps.reconcileAll();
      this.#apply(decide(this.#state, { type: "reconciled", at: this.#now() }));
      return undefined;
    } catch (err) {
      const e = toAgentError(err);
      if (e.code === "ENGINE_UNAVAILABLE") return this.#apply(decide(this.#state, { type: "still-gone", at: this.#now() })).delayMs;
      this.#deps.log.error({ code: e.code, err: e.message }, "reconcile after the Engine came back failed; the next deploy starts from what the Engine shows");
      this.#apply(decide(this.#state, { type: "reconcile-failed", at: this.#now() }));
      return undefined;
    }
  }

  /** A ping, then the event stream opened again (before the reconcile, so a new loss is seen). */
  async #answers(): Promise<boolean> {
    try {
      await this.#deps.ping();
      this.#stream?.close();
      this.#stream = await this.#deps.watch((why) => this.lost(why));
      return true;
    } catch {
      return false;
    }
  }

  #apply(d: Decision, why?: string): Decision {
    this.#state = d.state;
    if (d.say === "gone") {
      this.#deps.log.warn(
        { socket: this.#deps.socketPath, why },
        "Docker Engine is not answering; deploys wait until it is back",
      );
    } else if (d.say === "back") {
      this.#deps.log.info({ socket: this.#deps.socketPath, downSeconds: Math.round((d.downMs ?? 0) / 1000) }, "Docker Engine is back");
    }
    return d;
  }

  #now(): number {
    return (this.#deps.now ?? monotonicNow)();
  }
}
