// Reconcile of an app's roles, once web is settled (reconcile.ts): exactly the role containers of
// the release web runs are kept, so no role is ever left on another release than web
// (docs/design.md#roles). The live release is named by its deploy id, which every container of
// one deploy (web's and the roles') carries.
import { toAgentError } from "../errors.js";
import { AGENT_LABELS } from "../labels.js";
import type { DeployDeps } from "./run.js";

/**
 * Removes every role container that is not of the live release (an undone deploy's new ones, a
 * finished deploy's old ones, roles no longer configured), starts a stopped one of the live
 * release (an `overlap: false` role whose deploy was cut before its undo), and reports a
 * configured role of the live release that has no container: it is not recreated here, but the
 * next poll deploys the live digest again with every role (deploy.ts, roles.ts `rolesMissing`).
 */
export async function settleRoles(deps: DeployDeps, appName: string, note: (m: string) => void, keptDeployId?: string): Promise<void> {
  const app = deps.config.apps[appName];
  const live = deps.store.app(appName).live;
  const { engine } = deps;
  // The previous release's role containers, kept stopped with its web container while a watch goes on.
  const roles = (await engine.containers(appName)).roles.filter((c) => keptDeployId === undefined || c.labels[AGENT_LABELS.deployId] !== keptDeployId);
  const kept = new Set<string>();
  for (const c of roles) {
    const role = c.labels[AGENT_LABELS.role] ?? "?";
    const ofLive = live !== undefined && c.labels[AGENT_LABELS.deployId] === live.deployId && app?.roles[role] !== undefined && !kept.has(role);
    if (!ofLive) {
      await engine.stopAndRemove(appName, c.id, app?.stopTimeout ?? 10_000);
      note(`removed ${c.name}, a ${role} container of another release than the live one`);
      continue;
    }
    kept.add(role);
    if (c.running) continue;
    try {
      await engine.start(appName, c.id);
      note(`the live release's ${role} container ${c.name} was stopped; it was started again`);
    } catch (err) {
      note(`the live release's ${role} container ${c.name} was stopped and would not start: ${toAgentError(err).message}`);
    }
  }
  if (!live || !app) return;
  for (const role of Object.keys(app.roles).filter((r) => !kept.has(r))) {
    note(`the live release (${live.version}) has no ${role} container; the next poll deploys the live release again with it`);
  }
}
