// What polling.ts does with a poll's gate decisions (poll-decision.ts): a notify-mode app's new
// digest is recorded as available; a digest held back by minAge or a closed window waits, with a
// one-shot timer that polls again the moment it may deploy (not only at the next cron tick). Each
// digest is announced once (`update-available`), and what was announced is in the state file, so
// a restart does not announce it again. Manual deploys and rollbacks never come through here.
import type { AppStatus, CheckResult } from "../control/api.js";
import { formatDurationMs, MAX_TIMER_MS } from "../config/duration.js";
import type { RegistryAnswer, GateInput, PollDecision } from "./poll-decision.js";
import type { State } from "../state/schema.js";
import { allocateDeployId, ensureApp } from "../state/transitions.js";
import type { DeployDeps } from "./run.js";
import { short } from "./run.js";

type Found = RegistryAnswer & { ok: true };
type Held = Extract<PollDecision, { kind: "too-young" | "waiting-window" }>;

/** Timers fire this late after the moment they wait for, so the poll they run is past it. */
const TIMER_SLACK_MS = 250;

interface Wait {
  gate: "window" | "minAge";
  version: string;
  digest: string;
  untilMs: number;
}

export class PollGates {
  readonly #deps: DeployDeps;
  /** Runs one poll of the app when a wait ends; the result goes to the log like a scheduled poll's. */
  readonly #poll: (app: string) => Promise<unknown>;
  readonly #waits = new Map<string, Wait>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  #stopped = false;

  constructor(deps: DeployDeps, poll: (app: string) => Promise<unknown>) {
    this.#deps = deps;
    this.#poll = poll;
  }

  /** The app's gates for decidePoll, read at the moment of the poll. */
  input(app: string): GateInput {
    const cfg = this.#deps.config.apps[app]!;
    return { mode: cfg.mode, windows: cfg.window, minAgeMs: cfg.minAge, nowWallMs: Date.now() };
  }

  /** Records the first sight of a digest on the tracked tag, which minAge counts from; once per digest. */
  async noteSeen(app: string, answer: RegistryAnswer): Promise<void> {
    const cfg = this.#deps.config.apps[app]!;
    if (!answer.ok || (cfg.minAge === 0 && cfg.window === undefined)) return;
    const s = this.#deps.store.app(app);
    if (s.live?.digest === answer.digest || s.seen?.digest === answer.digest) return;
    const seen = { version: answer.tag, digest: answer.digest, since: new Date().toISOString() };
    await this.#deps.store.update((draft) => void (ensureApp(draft, app).seen = seen));
  }

  /**
   * After every decision: a wait ends when the poll decides otherwise; an available release that
   * went live (or the tag went back to) is cleared, and so is a held digest the tag no longer names
   * (it was taken back: should it come again, minAge counts from then).
   */
  async settle(app: string, d: PollDecision): Promise<void> {
    if (d.kind === "unchanged" || d.kind === "skipped" || d.kind === "deploy" || d.kind === "backing-off") this.#endWait(app);
    const s = this.#deps.store.app(app);
    if (s.available && (d.kind === "unchanged" || s.live?.digest === s.available.digest)) await this.clearAvailable(app, s.available.digest);
    if (d.kind === "unchanged" && s.seen && s.seen.digest !== d.digest) {
      const gone = s.seen.digest;
      await this.#deps.store.update((draft) => {
        const a = draft.apps[app];
        if (a?.seen?.digest === gone) delete a.seen;
      });
    }
  }

  async clearAvailable(app: string, digest: string): Promise<void> {
    await this.#deps.store.update((draft) => {
      const a = draft.apps[app];
      if (a?.available?.digest === digest) delete a.available;
    });
  }

  /** A notify-mode app's digest: recorded (state and history) and announced once; nothing is pulled. */
  async available(app: string, d: Extract<PollDecision, { kind: "available" }>, answer: Found): Promise<CheckResult> {
    if (d.fresh) {
      const at = new Date().toISOString();
      const live = this.#deps.store.app(app).live;
      // Checked again inside the update: a scheduled poll and `agentctl check` may both find it.
      const recorded = await this.#deps.store.update((draft) => {
        const a = ensureApp(draft, app);
        if (a.available?.digest === d.digest) return false;
        a.available = { version: d.tag, digest: d.digest, ...(answer.indexDigest ? { indexDigest: answer.indexDigest } : {}), since: at };
        a.history.unshift({
          id: allocateDeployId(draft),
          app,
          trigger: "poll",
          version: d.tag,
          digest: d.digest,
          ...(answer.indexDigest ? { indexDigest: answer.indexDigest } : {}),
          ...(a.live ? { previous: { digest: a.live.digest, version: a.live.version, slot: a.live.slot, generation: a.live.generation } } : {}),
          steps: [],
          outcome: "available",
          startedAt: at,
          endedAt: at,
        });
        return true;
      });
      if (recorded) {
        this.#deps.log.info({ app, digest: d.digest, version: d.tag }, "new release available (mode notify): not deployed");
        this.#announce(app, d.tag, d.digest, live, "mode notify: agentctl deploy deploys it");
      }
    }
    const since = this.#deps.store.app(app).available?.since;
    return { app, result: "available", digest: d.digest, detail: `${d.tag} (${short(d.digest)}) is available${since ? ` since ${since}` : ""}; agentctl deploy ${app} deploys it` };
  }

  /** A digest minAge or a closed window holds back: announced once, and polled again when it may deploy. */
  async held(app: string, d: Held): Promise<CheckResult> {
    const gate = d.kind === "too-young" ? "minAge" : "window";
    const untilMs = d.kind === "too-young" ? d.eligibleAtMs : d.opensAtMs;
    const words = this.#words({ gate, version: d.tag, digest: d.digest, untilMs }, app);
    this.#waits.set(app, { gate, version: d.tag, digest: d.digest, untilMs });
    this.#arm(app, untilMs);
    const s = this.#deps.store.app(app);
    // Checked before (no state write on every poll of a waiting digest) and again inside the update.
    const first =
      s.seen?.digest === d.digest &&
      !s.seen.notified &&
      (await this.#deps.store.update((draft) => {
        const seen = draft.apps[app]?.seen;
        if (seen?.digest !== d.digest || seen.notified) return false;
        seen.notified = true;
        return true;
      }));
    if (first) {
      this.#deps.log.info({ app, digest: d.digest, version: d.tag, until: new Date(untilMs).toISOString() }, `new release held back: ${words}`);
      this.#announce(app, d.tag, d.digest, s.live, words);
    }
    return { app, result: "waiting", digest: d.digest, detail: `${d.tag} (${short(d.digest)}) ${words}; agentctl deploy ${app} deploys it now` };
  }

  /** What `status` adds: the available release, and what the last poll's found digest waits for. */
  status(app: string): Pick<AppStatus, "mode" | "available" | "waiting"> {
    const cfg = this.#deps.config.apps[app]!;
    const s = this.#deps.store.app(app);
    // A release deployed by hand while it waited waits no more, though the timer's poll has yet to see it.
    const w = [this.#waits.get(app)].find((x) => x !== undefined && x.digest !== s.live?.digest);
    return {
      ...(cfg.mode === "notify" ? { mode: "notify" as const } : {}),
      ...(s.available ? { available: { version: s.available.version, digest: s.available.digest, since: s.available.since } } : {}),
      ...(w ? { waiting: { gate: w.gate, version: w.version, digest: w.digest, until: new Date(w.untilMs).toISOString(), ...(w.gate === "minAge" ? { minAgeMs: cfg.minAge } : {}) } } : {}),
    };
  }

  /** Clears every timer: the daemon is stopping. */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
  }

  #words(w: Wait, app: string): string {
    const at = new Date(w.untilMs).toISOString();
    return w.gate === "window" ? `waiting for window, opens ${at}` : `eligible at ${at} (minAge ${formatDurationMs(this.#deps.config.apps[app]!.minAge)})`;
  }

  #endWait(app: string): void {
    this.#waits.delete(app);
    clearTimeout(this.#timers.get(app));
    this.#timers.delete(app);
  }

  #arm(app: string, atMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timers.get(app));
    // A wait longer than a timer holds fires early; the poll it runs then waits again.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, atMs - Date.now()) + TIMER_SLACK_MS);
    const timer = setTimeout(() => {
      this.#timers.delete(app);
      this.#poll(app).catch((err: unknown) => this.#deps.log.warn({ app, err: String(err) }, "poll after a wait failed"));
    }, delay);
    timer.unref();
    this.#timers.set(app, timer);
  }

  #announce(app: string, version: string, digest: string, live: { version: string; digest: string } | undefined, reason: string): void {
    this.#deps.notify?.send({
      event: "update-available",
      app,
      trigger: "poll",
      release: { version, digest },
      ...(live ? { previous: { version: live.version, digest: live.digest } } : {}),
      outcome: "available",
      reason,
    });
  }
}

/** In the update that makes `digest` live by hand: the available release it was is deployed now. */
export function dropAvailable(s: State, app: string, digest: string): void {
  const a = s.apps[app];
  if (a?.available?.digest === digest) delete a.available;
}
