// Polls that fail in a row are one episode: one `poll-failing` at its first failed poll, one
// `poll-recovered` at the first poll that gets an answer again, nothing in between, so an outage
// of hours is two notifications, not one per poll.
import type { NotifyEvent } from "../notify/event.js";
import type { RegistryAnswer } from "./poll-decision.js";

interface Episode {
  since: number;
  failures: number;
}

export class PollEpisodes {
  readonly #open = new Map<string, Episode>();

  /** The event the answer to a poll of `app` starts or ends an episode with; undefined otherwise. */
  note(app: string, answer: RegistryAnswer, nowMs = Date.now()): NotifyEvent | undefined {
    const episode = this.#open.get(app);
    if (!answer.ok) {
      if (episode) {
        episode.failures++;
        return undefined;
      }
      this.#open.set(app, { since: nowMs, failures: 1 });
      return { event: "poll-failing", app, trigger: "poll", error: answer.error, reason: `polling the registry failed: ${answer.error.message}` };
    }
    if (!episode) return undefined;
    this.#open.delete(app);
    const n = episode.failures;
    return {
      event: "poll-recovered",
      app,
      trigger: "poll",
      release: { version: answer.tag, digest: answer.digest },
      durationMs: Math.max(0, nowMs - episode.since),
      reason: `the registry answered again after ${n} failed poll${n === 1 ? "" : "s"}`,
    };
  }
}
