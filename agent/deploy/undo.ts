// Undoing a deploy: green goes, blue (which ran all along, since the commit point is the end of
// drain) serves again. A green that was routed (its start ended) is never removed while Traefik
// may still send it requests (docs/design.md#the-commit-point).
import { deadline } from "../clock.js";
import { toAgentError, type AgentError } from "../errors.js";
import { sleep } from "../sleep.js";
import { isGreensFault } from "./commit.js";
import { containerName } from "./plan.js";
import type { Run } from "./run.js";

/** How many `settle`s a green that passes again gets to fail again before it is stopped all the same. */
const FLAP_ROUNDS = 5;

/**
 * Removes green after a failure. Before it was routed it is removed at once. A routed green that
 * failed itself is first taken out of routing: Traefik's docker provider drops an unhealthy or
 * dead container at that event, but only at its next reload, up to its throttle later on a busy
 * host (docs/design.md#events-and-throttle), so a green still running gets `settle` first. Then it
 * is stopped with SIGTERM, so requests it still holds finish, and removed.
 */
export async function removeGreen(run: Run, err: AgentError): Promise<void> {
  const id = run.greenId;
  if (!id) return;
  const { engine } = run.deps;
  try {
    if (!run.routed) return await engine.remove(run.target.app, id);
    if (run.failedRole !== undefined) {
      // Web's green still passes, so Traefik keeps it until it stops: waiting for it to fail would
      // wait for nothing. It goes at once, with SIGTERM; until Traefik's reload after its die event
      // requests may still reach it, as when a release exits by itself.
      run.log.warn({ role: run.failedRole }, "a role of the new release failed after it was routed; the new release is taken out at once");
    } else if (isGreensFault(err)) await outOfRouting(run, id);
    await engine.stopAndRemove(run.target.app, id, run.app.stopTimeout);
    run.log.info({ container: containerName(run.target.app, run.slot) }, "the new release was taken out of routing and removed; the previous release serves");
  } catch (cleanupErr) {
    run.log.error({ err: toAgentError(cleanupErr).message }, "could not remove the new release's container after the failure; reconcile will");
  }
}

/**
 * Waits until Traefik has dropped green: `settle` after it was seen failing (Traefik's reload
 * after that event). A green that passes again is routed again, so it gets up to FLAP_ROUNDS
 * `settle`s to fail again, then `settle` once more. A green that has exited needs no wait:
 * nothing reaches a dead container, whatever Traefik's table says.
 */
async function outOfRouting(run: Run, id: string): Promise<void> {
  const label = `the new release ${containerName(run.target.app, run.slot)}`;
  if ((await greenNow(run, id, label)) === "exited") return;
  await sleep(run.app.settle);
  const until = deadline(run.app.settle * FLAP_ROUNDS, run.deps.clock);
  let flapped = false;
  for (;;) {
    if ((await greenNow(run, id, label)) !== "passes") {
      if (flapped) await sleep(run.app.settle);
      return;
    }
    if (!flapped) run.log.warn({ container: label }, "the new release passes its health check again, so Traefik routes to it again; it is removed once it fails again");
    flapped = true;
    if (until.passed()) {
      run.log.warn({ container: label }, `the new release kept passing for ${(run.app.settle * FLAP_ROUNDS) / 1000}s; it is stopped all the same`);
      return;
    }
    await sleep(Math.min(FLAP_POLL_MS, until.remainingMs()));
  }
}

const FLAP_POLL_MS = 500;

/** What green does now: exited (or gone), still failing its health check, or passing again. */
async function greenNow(run: Run, id: string, label: string): Promise<"exited" | "failing" | "passes"> {
  try {
    await run.deps.engine.checkRunning(id, label, run.imageRef);
    return "passes";
  } catch (err) {
    const e = toAgentError(err);
    // An Engine that does not answer: what it last said (failing) stands.
    return e.code === "GREEN_EXITED" ? "exited" : "failing";
  }
}
