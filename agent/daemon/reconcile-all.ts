// Every app reconciled once the Engine is back: dockerd stopped their containers (no live-restore)
// and a deploy may have been cut off, so each app is settled to one serving slot as at start.
import { AgentError } from "../errors.js";
import type { DeployDeps } from "../deploy/deploy.js";
import { reconcileApp } from "../deploy/reconcile.js";
import { sleep } from "../sleep.js";

/** How often a reconcile that waits for an app's running deploy looks again. */
const LOCK_WAIT_MS = 250;

/**
 * Reconciles each app under its deploy lock, so it never judges a deploy that is still running
 * (reconcile undoes any deploy it finds open): a running one ends first, and on a gone Engine it
 * ends within docker.timeout. Throws what reconcile throws (ENGINE_UNAVAILABLE if the Engine went again).
 */
export async function reconcileAll(deps: DeployDeps, signal: AbortSignal): Promise<void> {
  for (const app of Object.keys(deps.config.apps)) {
    const release = await takeLock(deps, app, signal);
    try {
      const report = await reconcileApp(deps, app);
      deps.log.info({ app, serving: report.serving ?? null, actions: report.actions.length }, "reconciled");
    } finally {
      release();
    }
  }
}

async function takeLock(deps: DeployDeps, app: string, signal: AbortSignal): Promise<() => void> {
  for (;;) {
    if (signal.aborted) throw new AgentError("DEPLOY_ABORTED", `reconcile of ${app} stopped: the agent is stopping`);
    // Checked and taken in one turn: no poll can start a deploy in between.
    if (!deps.locks.current(app)) {
      return deps.locks.acquire(app, { deployId: "-", version: "reconcile", trigger: "poll", step: "resolve", startedAt: new Date().toISOString() });
    }
    await sleep(LOCK_WAIT_MS, signal);
  }
}
