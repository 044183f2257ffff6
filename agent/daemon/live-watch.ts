// The live releases, watched between deploys: a live container that exits, restarts or turns
// unhealthy by itself is said once in the journal (with its exit status and its last log lines)
// and shown in `agentctl status` until it runs healthy again, which is said once too. It reads the
// Engine's events of this agent's containers (one stream for every app); the rules are in
// live-rules.ts. When dockerd goes away the stream ends: it is opened again, with backoff, once
// the Engine answers, and what was missed meanwhile is read from the containers themselves.
import type { ContainerDetail, OwnContainerEvent } from "../docker/engine.js";
import { toAgentError } from "../errors.js";
import type { Logger } from "../log.js";
import type { Live } from "../state/schema.js";
import { liveDecide, liveProblemWords, type LiveProblem } from "./live-rules.js";
import { retryDelayMs } from "./engine-watch.js";

/** How many of its last log lines the warning quotes. */
const LOG_LINES = 20;

export interface LiveWatchDeps {
  engine: {
    watchOwnContainers(onEvent: (e: OwnContainerEvent) => void, onEnd: (why: string) => void): Promise<{ close(): void }>;
    logTail(id: string, lines: number): Promise<string>;
    inspect(idOrName: string): Promise<ContainerDetail | undefined>;
  };
  /** The app's live release as the state file says, or undefined. */
  live(app: string): Live | undefined;
  log: Logger;
}

export class LiveWatch {
  readonly #deps: LiveWatchDeps;
  readonly #problems = new Map<string, LiveProblem>();
  #stream: { close(): void } | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #stopped = false;

  constructor(deps: LiveWatchDeps) {
    this.#deps = deps;
  }

  /** The app's live release is not serving, and how; undefined while it serves (or is not known to fail). */
  problem(app: string): LiveProblem | undefined {
    return this.#problems.get(app);
  }

  async start(): Promise<void> {
    await this.#open();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
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

  #liveName(app: string): string | undefined {
    const live = this.#deps.live(app);
    return live ? `${app}-${live.slot}` : undefined;
  }

  #onEvent(e: OwnContainerEvent): void {
    const name = this.#liveName(e.app);
    if (!name || e.name !== name) return;
    const before = this.#problems.get(e.app);
    const d = liveDecide(before, e);
    if (d.problem) this.#problems.set(e.app, d.problem);
    else this.#problems.delete(e.app);
    if (d.say === "down" && d.problem) void this.#warn(e.app, name, e.id, d.problem);
    if (d.say === "back") this.#back(e.app, name, before);
  }

  async #warn(app: string, container: string, id: string, p: LiveProblem): Promise<void> {
    const logs = await this.#deps.engine.logTail(id, LOG_LINES).catch(() => "");
    this.#deps.log.warn(
      { app, container, condition: p.condition, ...(p.exitCode !== undefined ? { exitCode: p.exitCode } : {}), ...(logs ? { logs } : {}) },
      `${liveProblemWords(p)}; the agent does not restart it (the app's restart policy may)`,
    );
  }

  #back(app: string, container: string, was: LiveProblem | undefined): void {
    const downSeconds = was ? Math.max(0, Math.round((Date.now() - was.since) / 1000)) : 0;
    this.#deps.log.info({ app, container, downSeconds }, "the live release runs healthy again");
  }

  /** After the stream was away: an app whose episode ended meanwhile is said back (the reconcile after the Engine came back may have started it). */
  async #catchUp(): Promise<void> {
    for (const [app, was] of [...this.#problems]) {
      const name = this.#liveName(app);
      const c = name ? await this.#deps.engine.inspect(name).catch((err: unknown) => void this.#deps.log.debug({ app, err: toAgentError(err).message }, "live release not inspected")) : undefined;
      if (c?.running && (c.health === "healthy" || c.health === "none")) {
        this.#problems.delete(app);
        this.#back(app, name!, was);
      }
    }
  }
}
