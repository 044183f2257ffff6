// The live releases, watched between deploys: a live container (web's, or one of the app's roles')
// that exits, restarts or turns unhealthy by itself is said once in the journal (with its exit
// status and its last log lines) and shown in `agentctl status` until it runs healthy again, which
// is said once too. It reads the Engine's events of this agent's containers (one stream for every
// app); the rules are in live-rules.ts, and each container has its own episode. When dockerd goes
// away the stream ends: it is opened again, with backoff, once the Engine answers, and what was
// missed meanwhile is read from the containers themselves.
import { ROLE_RUNNING_MS, roleContainerName } from "../config/roles.js";
import type { ContainerDetail, OwnContainerEvent } from "../docker/engine.js";
import { toAgentError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Live } from "../state/schema.js";
import { liveBackWords, liveDecide, liveProblemWords, RAN_LONG_ENOUGH, type LiveEvent, type LiveProblem } from "./live-rules.js";
import { retryDelayMs } from "./engine-watch.js";

/** How many of its last log lines the warning quotes. */
const LOG_LINES = 20;

/** A role of the app, and whether its container has a Docker health check (`health.command`). */
export interface LiveRole {
  role: string;
  checked: boolean;
}

export interface LiveWatchDeps {
  engine: {
    watchOwnContainers(onEvent: (e: OwnContainerEvent) => void, onEnd: (why: string) => void): Promise<{ close(): void }>;
    logTail(id: string, lines: number): Promise<string>;
    inspect(idOrName: string): Promise<ContainerDetail | undefined>;
    /** True while the agent itself keeps the container stopped (a deploy stopped it), so its exit is no crash. */
    stoppedOnPurpose?(id: string): boolean;
  };
  /** The app's live release as the state file says, or undefined. */
  live(app: string): Live | undefined;
  /** The app's configured roles, whose containers run in the live release's slot; none when left out. */
  roles?(app: string): LiveRole[];
  log: Logger;
}

/** One container of a live release: web's (no role) or a role's. */
interface Target {
  app: string;
  name: string;
  role: string | undefined;
  checked: boolean;
}

interface Episode extends Target {
  problem: LiveProblem;
}

export class LiveWatch {
  readonly #deps: LiveWatchDeps;
  /** By container name: a role's container has its own episode beside web's. */
  readonly #episodes = new Map<string, Episode>();
  /** By container name: the RAN_LONG_ENOUGH due to a container without a health check. */
  readonly #rechecks = new Map<string, NodeJS.Timeout>();
  #stream: { close(): void } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #stopped = false;

  constructor(deps: LiveWatchDeps) {
    this.#deps = deps;
  }

  /**
   * The app's live web container (or, with `role`, that role's live container) is not serving,
   * and how; undefined while it serves (or is not known to fail).
   */
  problem(app: string, role?: string): LiveProblem | undefined {
    const t = this.#targets(app).find((x) => x.role === role);
    return t ? this.#episodes.get(t.name)?.problem : undefined;
  }

  /** How the problem of the app's web container (or its `role`'s) reads, for `agentctl status`. */
  words(app: string, p: LiveProblem, role?: string): string {
    return liveProblemWords(p, role, this.#targets(app).find((x) => x.role === role)?.checked ?? true);
  }

  async start(): Promise<void> {
    await this.#open();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    for (const t of this.#rechecks.values()) clearTimeout(t);
    this.#rechecks.clear();
    this.#stream?.close();
    this.#stream = undefined;
  }
  async #open(): Promise<void> {
    if (this.#stopped) return;
    try {
      const stream = await this.#deps.engine.watchOwnContainers((e) => this.#onEvent(e), () => this.#ended());
      // Stopped while the stream was opening: give it back at once.
      if (this.#stopped) return stream.close();
      this.#stream = stream;
      if (this.#failures > 0) await this.#catchUp();
      this.#failures = 0;
    } catch {
      this.#again();
    }
  }

  /** The Engine ended the stream: give it back, and open another once the Engine answers. */
  #ended(): void {
    this.#stream?.close();
    this.#stream = undefined;
    this.#failures = Math.max(1, this.#failures);
    this.#again();
  }

  #again(): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.#open(), retryDelayMs(this.#failures - 1));
    this.#failures++;
  }

  /** The live release's containers: web's, then each configured role's in the same slot. */
  #targets(app: string): Target[] {
    const live = this.#deps.live(app);
    if (!live) return [];
    const web: Target = { app, name: `${app}-${live.slot}`, role: undefined, checked: true };
    const roles = (this.#deps.roles?.(app) ?? []).map((r) => ({ app, name: roleContainerName(app, r.role, live.slot), role: r.role, checked: r.checked }));
    return [web, ...roles];
  }

  #onEvent(e: OwnContainerEvent): void {
    const targets = this.#targets(e.app);
    // A container that left the live release (a deploy switched slots) takes its episode with it.
    for (const [name, ep] of this.#episodes) if (ep.app === e.app && !targets.some((t) => t.name === name)) this.#forget(name);
    const target = targets.find((t) => t.name === e.name);
    if (!target) return;
    // A deploy stopped it (an `overlap: false` role's old container before the new one starts):
    // not a crash, and not said; the deploy's undo starts it again, or its success removes it.
    if (e.action === "die" && this.#deps.engine.stoppedOnPurpose?.(e.id)) return this.#forget(target.name);
    this.#apply(target, e, e.id);
  }

  #forget(name: string): void {
    this.#episodes.delete(name);
    clearTimeout(this.#rechecks.get(name));
    this.#rechecks.delete(name);
  }

  /** One event of one live container: its new episode, what is said, and a recheck if the rules ask for one. */
  #apply(t: Target, e: LiveEvent, id: string, recheckInMs?: number): void {
    clearTimeout(this.#rechecks.get(t.name));
    this.#rechecks.delete(t.name);
    const before = this.#episodes.get(t.name)?.problem;
    const d = liveDecide(before, e, t.checked);
    if (d.problem) this.#episodes.set(t.name, { ...t, problem: d.problem });
    else this.#episodes.delete(t.name);
    if (d.say === "down" && d.problem) void this.#warn(t, id, d.problem);
    if (d.say === "back") this.#back(t, before);
    const wait = recheckInMs ?? d.recheckInMs;
    if (wait !== undefined && d.problem && !this.#stopped) {
      const timer = setTimeout(() => {
        this.#rechecks.delete(t.name);
        this.#apply(t, { action: RAN_LONG_ENOUGH, at: Date.now() }, id);
      }, wait);
      this.#rechecks.set(t.name, timer);
    }
  }

  async #warn(t: Target, id: string, p: LiveProblem): Promise<void> {
    const logs = await this.#deps.engine.logTail(id, LOG_LINES).catch(() => "");
    this.#deps.log.warn(
      {
        app: t.app,
        ...(t.role !== undefined ? { role: t.role } : {}),
        container: t.name,
        condition: p.condition,
        ...(p.exitCode !== undefined ? { exitCode: p.exitCode } : {}),
        ...(logs ? { logs } : {}),
      },
      `${liveProblemWords(p, t.role, t.checked)}; the agent does not restart it (the app's restart policy may)`,
    );
  }

  #back(t: Target, was: LiveProblem | undefined): void {
    const downSeconds = was ? Math.max(0, Math.round((Date.now() - was.since) / 1000)) : 0;
    this.#deps.log.info({ app: t.app, ...(t.role !== undefined ? { role: t.role } : {}), container: t.name, downSeconds }, liveBackWords(t.role, t.checked));
  }

  /**
   * After the stream was away: a container whose episode ended meanwhile is said back (the
   * reconcile after the Engine came back may have started it). One without a health check that
   * runs, but not for ROLE_RUNNING_MS yet, is back once it has.
   */
  async #catchUp(): Promise<void> {
    for (const [name, ep] of [...this.#episodes]) {
      const c = await this.#deps.engine
        .inspect(name)
        .catch((err: unknown) => void this.#deps.log.debug({ app: ep.app, container: name, err: toAgentError(err).message }, "live container not inspected"));
      if (!c?.running || this.#episodes.get(name) !== ep) continue;
      if (ep.checked) {
        if (c.health === "healthy" || c.health === "none") this.#apply(ep, { action: "health_status: healthy", at: Date.now() }, c.id);
        continue;
      }
      const ranMs = Date.now() - Date.parse(c.startedAt);
      const left = Number.isFinite(ranMs) ? Math.max(0, ROLE_RUNNING_MS - ranMs) : ROLE_RUNNING_MS;
      this.#apply(ep, { action: "start", at: Date.now() }, c.id, left);
      if (left === 0) this.#apply(ep, { action: RAN_LONG_ENOUGH, at: Date.now() }, c.id);
    }
  }
}
