// Watching the new release while the deploy waits (confirm, drain, a role's first seconds): the
// wait ends early, with its error, the moment the container fails.
import { deadline } from "../clock.js";
import { sleep } from "../sleep.js";
import { roleContainerName } from "../config/roles.js";
import { containerName } from "./plan.js";
import { mustGreen, type Run } from "./run.js";

/** One container the wait watches, named as messages name it; `role` for a role's new container. */
export interface Watched {
  id: string;
  label: string;
  role?: string;
}

/**
 * Waits `ms` while checking that the watched containers still run and pass (by default the whole
 * new release: web's green and every role's new container): at once on Docker's health_status and
 * die events, and every half second as the fallback.
 */
export async function watchFor(run: Run, ms: number, watched: readonly Watched[] = releaseContainers(run)): Promise<void> {
  const until = deadline(ms, run.deps.clock);
  let wake = new AbortController();
  const streams = await Promise.all(watched.map((w) => run.deps.engine.containerEvents(w.id, () => wake.abort())));
  try {
    for (;;) {
      await checkRelease(run, watched);
      if (until.passed()) return;
      await sleep(Math.min(500, until.remainingMs()), wake.signal);
      if (wake.signal.aborted) wake = new AbortController();
    }
  } finally {
    for (const s of streams) s.close();
  }
}

/**
 * Checks once that each watched container runs and passes. A role's that fails is noted on the
 * run (`failedRole`): the undo then takes web's green out at once, as it still passes (undo.ts).
 */
export async function checkRelease(run: Run, watched: readonly Watched[] = releaseContainers(run)): Promise<void> {
  for (const w of watched) {
    try {
      await run.deps.engine.checkRunning(w.id, w.label, run.imageRef);
    } catch (err) {
      if (w.role !== undefined) run.failedRole = w.role;
      throw err;
    }
  }
}

/** Web's green, then every role's new container. */
export function releaseContainers(run: Run): Watched[] {
  const roles = (run.roles ?? []).flatMap((r) => (r.greenId ? [{ id: r.greenId, label: roleLabel(run, r.name), role: r.name }] : []));
  return [{ id: mustGreen(run), label: newRelease(run) }, ...roles];
}

/** How messages name a role's new container: "the new release's worker container web-worker-green". */
export function roleLabel(run: Run, role: string): string {
  return `the new release's ${role} container ${roleContainerName(run.target.app, role, run.slot)}`;
}

/** How messages name the container being deployed: "the new release web-green". */
export function newRelease(run: Run): string {
  return `the new release ${containerName(run.target.app, run.slot)}`;
}
