// Delivers events to the `notify` targets. Producers hand an event over (NotifySink.send) and go
// on: delivery runs in the background, one event at a time per target, from a bounded queue, so a
// target that is down or slow never fails or holds up a deploy or a poll, nor grows memory
// (docs/design.md#notifications).
import { hostname } from "node:os";
import type { NotifyTarget } from "../config/schema.js";
import { readSigningKey } from "../config/secret-file.js";
import type { Logger } from "../log.js";
import { agentVersion } from "../version.js";
import { deliver, targetName, type ArmedTarget } from "./deliver.js";
import type { NotifyEvent, NotifySink, TargetResult } from "./event.js";
import { scrubEvent } from "./scrub.js";
import type { NotifyDocument } from "./render.js";
import { DEFAULT_DELIVERY_POLICY, type DeliveryPolicy } from "./retry.js";

export { targetName } from "./deliver.js";
export type { NotifyDocument } from "./render.js";

/** Events waiting per target; past it the oldest is dropped (and counted), so a dead target cannot grow memory. */
export const DEFAULT_QUEUE_LIMIT = 100;

/** How long shutdown waits for deliveries under way before it cuts them off. */
const CLOSE_GRACE_MS = 5000;

export interface NotificationsOptions {
  log: Logger;
  host?: string;
  policy?: Partial<DeliveryPolicy>;
  queueLimit?: number;
}

/** One target's queue and its failure episode: a failure is a warning once, then debug until it works again. */
class TargetQueue {
  readonly jobs: NotifyDocument[] = [];
  readonly name: string;
  running = false;
  failing = false;
  dropped = 0;
  droppedSaid = false;
  constructor(readonly target: ArmedTarget) {
    this.name = targetName(target.url);
  }
}

/** Reads each target's `secretFile` (trimmed of its trailing newline); an empty one is a config error. */
export async function armTargets(targets: NotifyTarget[]): Promise<ArmedTarget[]> {
  return Promise.all(
    targets.map(async (t, i) => {
      if (t.secretFile === undefined) return t;
      return { ...t, secret: await readSigningKey(t.secretFile, `notify[${i}].secretFile`) };
    }),
  );
}

export class Notifications implements NotifySink {
  readonly #queues: TargetQueue[];
  readonly #log: Logger;
  readonly #host: string;
  readonly #policy: DeliveryPolicy;
  readonly #queueLimit: number;
  readonly #stop = new AbortController();
  readonly #idle = new Set<() => void>();

  /** Reads the targets' secrets, then delivers to them. */
  static async open(targets: NotifyTarget[], opts: NotificationsOptions): Promise<Notifications> {
    return new Notifications(await armTargets(targets), opts);
  }

  constructor(targets: ArmedTarget[], opts: NotificationsOptions) {
    this.#queues = targets.map((t) => new TargetQueue(t));
    this.#log = opts.log.child({ component: "notify" });
    this.#host = opts.host ?? hostname();
    this.#policy = { ...DEFAULT_DELIVERY_POLICY, ...opts.policy };
    this.#queueLimit = opts.queueLimit ?? DEFAULT_QUEUE_LIMIT;
  }

  send(event: NotifyEvent): void {
    if (this.#stop.signal.aborted || this.#queues.length === 0) return;
    const doc = this.document(event);
    for (const q of this.#queues) {
      if (!(q.target.events as string[]).includes(event.event)) continue;
      q.jobs.push(doc);
      if (q.jobs.length > this.#queueLimit) this.#drop(q);
      if (!q.running) void this.#drain(q);
    }
  }

  /** A `test` event to every target, whatever its `events`, past the queues; resolves with each result. */
  async test(app: string): Promise<TargetResult[]> {
    const doc = this.document({ event: "test", app, reason: "sent by agentctl notify test" });
    return Promise.all(this.#queues.map(async (q) => this.#noteResult(q, doc, await this.#deliver(q, doc))));
  }

  document(event: NotifyEvent): NotifyDocument {
    return { schema: 1, ...scrubEvent(event), host: this.#host, at: new Date().toISOString() };
  }

  /** Events dropped so far per target (oldest first when a queue was full), for tests and status. */
  dropped(): Record<string, number> {
    return Object.fromEntries(this.#queues.map((q) => [q.name, q.dropped]));
  }

  /** Resolves when every queue is empty and no delivery is under way. */
  idle(): Promise<void> {
    if (this.#queues.every((q) => !q.running)) return Promise.resolve();
    return new Promise((resolve) => this.#idle.add(resolve));
  }

  /** At shutdown: waits up to `graceMs` for deliveries under way, then cuts them off. */
  async close(graceMs = CLOSE_GRACE_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    this.#stop.abort();
    for (const q of this.#queues) q.jobs.length = 0;
    await this.idle();
  }

  #drop(q: TargetQueue): void {
    q.jobs.shift();
    q.dropped++;
    const fields = { target: q.name, dropped: q.dropped, limit: this.#queueLimit };
    if (q.droppedSaid) return this.#log.debug(fields, "notification dropped: the target's queue is full");
    q.droppedSaid = true;
    this.#log.warn(fields, "notification target is behind: the oldest waiting notification was dropped");
  }

  async #drain(q: TargetQueue): Promise<void> {
    q.running = true;
    try {
      for (let doc = q.jobs.shift(); doc !== undefined; doc = q.jobs.shift()) this.#noteResult(q, doc, await this.#deliver(q, doc));
    } finally {
      q.running = false;
      if (this.#queues.every((x) => !x.running)) {
        for (const done of this.#idle) done();
        this.#idle.clear();
      }
    }
  }

  #deliver(q: TargetQueue, doc: NotifyDocument): Promise<TargetResult> {
    return deliver(q.target, doc, { policy: this.#policy, signal: this.#stop.signal, userAgent: `deploy-agent/${agentVersion()}` });
  }

  /** Logs a target's failure once per episode (then debug), and its end once. Names the target by scheme and host only. */
  #noteResult(q: TargetQueue, doc: NotifyDocument, r: TargetResult): TargetResult {
    const fields = { target: q.name, event: doc.event, app: doc.app, attempts: r.attempts, ...(r.status !== undefined ? { status: r.status } : {}), ...(r.error ? { err: r.error } : {}) };
    if (r.ok) {
      if (q.failing) this.#log.info(fields, "notification target works again");
      q.failing = false;
      q.droppedSaid = false;
      return r;
    }
    if (q.failing) this.#log.debug(fields, "notification not delivered");
    else this.#log.warn(fields, "notification not delivered; further failures of this target are logged at debug level until it works again");
    q.failing = true;
    return r;
  }
}
