// The roles in the watch after a switch (docs/design.md#roles): the previous release's role
// containers are kept, stopped, with its web container, and follow it. At the watch's end they
// go; at its rollback the new release's role containers go and the kept ones start again, so the
// roles end on the release web serves.
import { toAgentError } from "../errors.js";
import { AGENT_LABELS } from "../labels.js";
import type { Logger } from "../log.js";
import type { DeployDeps } from "./run.js";

async function rolesOf(deps: DeployDeps, app: string, deployId: string) {
  return (await deps.engine.containers(app)).roles.filter((c) => c.labels[AGENT_LABELS.deployId] === deployId);
}

/** The watch ended: the previous release's kept role containers are removed. Failures are logged; reconcile removes what is left. */
export async function endWatchRoles(deps: DeployDeps, app: string, keptDeployId: string, log: Logger): Promise<void> {
  if (Object.keys(deps.config.apps[app]?.roles ?? {}).length === 0) return;
  try {
    for (const c of await rolesOf(deps, app, keptDeployId)) await deps.engine.stopAndRemove(app, c.id, deps.config.apps[app]?.stopTimeout ?? 10_000);
  } catch (err) {
    log.error({ app, err: toAgentError(err).message }, "could not remove the previous release's role containers at the end of the watch; reconcile will");
  }
}

/**
 * The watch rolled web back: the new release's role containers go first (an `overlap: false`
 * role never runs twice), then the kept ones start. Each that will not start is logged and left
 * to reconcile, which starts the live release's stopped role containers.
 */
export async function rollBackRoles(deps: DeployDeps, app: string, w: { deployId: string; blue: { deployId: string } }, log: Logger): Promise<void> {
  const cfg = deps.config.apps[app];
  if (!cfg || Object.keys(cfg.roles ?? {}).length === 0) return;
  try {
    for (const c of await rolesOf(deps, app, w.deployId)) await deps.engine.stopAndRemove(app, c.id, cfg.stopTimeout);
    for (const c of await rolesOf(deps, app, w.blue.deployId)) {
      await deps.engine.start(app, c.id);
      await deps.engine.setRestartPolicy(app, c.id, cfg.restart);
    }
  } catch (err) {
    log.error({ app, err: toAgentError(err).message }, "could not move every role back with the rollback; reconcile will");
  }
}
