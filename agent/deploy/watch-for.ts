// Watching the new release while the deploy waits (confirm, drain, a role's first seconds): the
// wait ends early, with its error, the moment the container fails.
import { deadline } from "../clock.js";
import { sleep } from "../sleep.js";
import { containerName } from "./plan.js";
import { mustGreen, type Run } from "./run.js";

/**
 * Waits `ms` while checking that green (or a role's new container) still runs and passes: at once
 * on Docker's health_status and die events, and every half second as the fallback.
 */
export async function watchFor(run: Run, ms: number, id = mustGreen(run), label = newRelease(run)): Promise<void> {
  const until = deadline(ms, run.deps.clock);
  let wake = new AbortController();
  const events = await run.deps.engine.containerEvents(id, () => wake.abort());
  try {
    for (;;) {
      await run.deps.engine.checkRunning(id, label, run.imageRef);
      if (until.passed()) return;
      await sleep(Math.min(500, until.remainingMs()), wake.signal);
      if (wake.signal.aborted) wake = new AbortController();
    }
  } finally {
    events.close();
  }
}

/** How messages name the container being deployed: "the new release web-green". */
export function newRelease(run: Run): string {
  return `the new release ${containerName(run.target.app, run.slot)}`;
}
