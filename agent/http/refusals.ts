// Refused hooks, said in the journal at most once a minute per reason: the listener may be reachable
// from the internet (Traefik routes /hooks/ to it), and the 5-a-minute bucket applies only after a
// good signature, so a scanner could otherwise write a warning per request.
import type { Logger } from "../log.js";

/** How long one warning stands for the refusals of its reason that follow it. */
export const REFUSAL_WINDOW_MS = 60_000;

export class RefusalLog {
  readonly #log: Logger;
  readonly #now: () => number;
  /** Per message: when it was last said, and how many refusals came since without being said. */
  readonly #said = new Map<string, { at: number; unsaid: number }>();

  constructor(log: Logger, now: () => number = Date.now) {
    this.#log = log;
    this.#now = now;
  }

  /** Says `msg` with `fields`, unless it was said less than a minute ago; then it is counted, and the next warning says how many were not. */
  refused(msg: string, fields: Record<string, unknown>): void {
    const now = this.#now();
    const last = this.#said.get(msg);
    if (last && now - last.at < REFUSAL_WINDOW_MS) {
      last.unsaid++;
      return;
    }
    this.#log.warn({ ...fields, ...(last && last.unsaid > 0 ? { alsoRefusedSinceLastWarning: last.unsaid } : {}) }, msg);
    this.#said.set(msg, { at: now, unsaid: 0 });
  }
}
