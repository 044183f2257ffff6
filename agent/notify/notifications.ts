// Delivers events to the `notify` targets. Producers hand an event over (NotifySink.send) and go
// on: delivery runs in the background and never fails or holds up a deploy or a poll.
import { hostname } from "node:os";
import { request } from "undici";
import type { NotifyTarget } from "../config/schema.js";
import type { Logger } from "../log.js";
import type { NotifyEvent, NotifySink } from "./event.js";

/** How long one delivery may take, connection to last byte. */
const DELIVERY_TIMEOUT_MS = 10_000;

/** The JSON document a `json` target receives (documented in README.md, "Notifications"). */
export interface NotifyDocument extends NotifyEvent {
  /** Version of this document's shape; a change that removes or renames a field raises it. */
  schema: 1;
  host: string;
  at: string;
}

export interface DeliveryResult {
  target: string;
  ok: boolean;
  status?: number;
  error?: string;
}

/** A target as messages name it: scheme and host only, as its path or query may hold a token. */
export function targetName(url: string): string {
  const u = new URL(url);
  return `${u.protocol}//${u.host}`;
}

export class Notifications implements NotifySink {
  readonly #targets: NotifyTarget[];
  readonly #log: Logger;
  readonly #host: string;
  readonly #pending = new Set<Promise<unknown>>();

  constructor(targets: NotifyTarget[], opts: { log: Logger; host?: string }) {
    this.#targets = targets;
    this.#log = opts.log.child({ component: "notify" });
    this.#host = opts.host ?? hostname();
  }

  send(event: NotifyEvent): void {
    for (const t of this.#targets) {
      if (event.event !== "test" && !(t.events as string[]).includes(event.event)) continue;
      const p = this.#deliver(t, this.document(event)).finally(() => this.#pending.delete(p));
      this.#pending.add(p);
    }
  }

  document(event: NotifyEvent): NotifyDocument {
    return { schema: 1, ...event, host: this.#host, at: new Date().toISOString() };
  }

  /** Waits for deliveries under way (at shutdown, and for tests). */
  async idle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  async #deliver(t: NotifyTarget, doc: NotifyDocument): Promise<DeliveryResult> {
    const target = targetName(t.url);
    try {
      const res = await request(t.url, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(doc),
        signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS),
        headersTimeout: DELIVERY_TIMEOUT_MS,
        bodyTimeout: DELIVERY_TIMEOUT_MS,
      });
      await res.body.dump();
      if (res.statusCode >= 200 && res.statusCode < 300) return { target, ok: true, status: res.statusCode };
      this.#log.warn({ target, event: doc.event, status: res.statusCode }, "notification refused");
      return { target, ok: false, status: res.statusCode };
    } catch (err) {
      const error = (err as Error).name === "TimeoutError" ? `no answer within ${DELIVERY_TIMEOUT_MS / 1000}s` : ((err as NodeJS.ErrnoException).code ?? (err as Error).message);
      this.#log.warn({ target, event: doc.event, err: error }, "notification not delivered");
      return { target, ok: false, error };
    }
  }
}
