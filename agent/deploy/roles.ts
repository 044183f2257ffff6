// The roles of an app (a worker) moved by web's deploy, with web's digest, slot and generation
// (docs/design.md#roles): created with web's green, started and judged before web's green starts
// (so a role that fails leaves nothing routed), their old containers removed at the stop step,
// and undone with web's green before the commit point.
import { roleContainerName, ROLE_RUNNING_MS, type RoleConfig } from "../config/roles.js";
import { allNetworks } from "../config/networks.js";
import type { ContainerDetail, ImageView } from "../docker/engine.js";
import { toAgentError } from "../errors.js";
import { AGENT_LABELS, appRoleOf } from "../labels.js";
import { roleCreateOptions } from "./role-plan.js";
import { emit, nowIso, short, type DeployDeps, type Run } from "./run.js";
import { roleLabel, watchFor } from "./watch-for.js";

/** One role in one deploy: its new container, and the old one it replaces. */
export interface RoleRun {
  name: string;
  config: RoleConfig;
  greenId?: string;
  blue?: ContainerDetail;
  /** Set when `overlap: false` stopped the old container: the undo starts it again. */
  blueStopped?: boolean;
}

/** Creates every role's new container next to web's green; "" when the app has no roles. */
export async function createRoles(run: Run, image: ImageView, fileEnv: Record<string, string>): Promise<string> {
  const { engine } = run.deps;
  const app = run.target.app;
  run.roles = [];
  const made: string[] = [];
  for (const [name, config] of Object.entries(run.app.roles)) {
    const role: RoleRun = { name, config };
    run.roles.push(role);
    const blue = run.blueSlot ? await engine.ownNamed(app, roleContainerName(app, name, run.blueSlot)) : undefined;
    if (blue?.running) role.blue = blue;
    const release = { deployId: run.id, version: run.target.version, digest: run.digest, imageRef: run.imageRef ?? image.id };
    const opts = roleCreateOptions(app, run.app, name, config, run.slot, run.generation, release, fileEnv);
    role.greenId = await engine.createGreen(app, opts, allNetworks(run.app).slice(1));
    made.push(`${opts.name} (${short(role.greenId)})`);
  }
  return made.length > 0 ? `; roles: ${made.join(", ")}` : "";
}

/**
 * Starts every role's new container and waits for each: healthy by its `health.command`, or
 * running ROLE_RUNNING_MS without exiting. An `overlap: false` role's old container is stopped
 * first. All are judged together; the first failure is thrown once every wait has ended, so the
 * undo finds no wait still running.
 */
export async function startRoles(run: Run): Promise<string> {
  const roles = run.roles ?? [];
  if (roles.length === 0) return "";
  const results = await Promise.allSettled(roles.map((r) => startRole(run, r)));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
  return `; roles: ${results.map((r) => (r as PromiseFulfilledResult<string>).value).join(", ")}`;
}

async function startRole(run: Run, role: RoleRun): Promise<string> {
  const { engine } = run.deps;
  const app = run.target.app;
  const id = role.greenId;
  if (!id) return `${role.name} not created`;
  if (!role.config.overlap && role.blue) {
    role.blueStopped = true;
    await engine.stop(app, role.blue.id, run.app.stopTimeout);
  }
  await engine.start(app, id);
  const label = roleLabel(run, role.name);
  const progress = (message: string) => emit(run, { type: "progress", app, deployId: run.id, step: "start", message: `${role.name}: ${message}`, at: nowIso(run) });
  const health = role.config.health;
  if (health) {
    await engine.waitHealthy(id, {
      deadlineMs: health.startTimeout,
      successes: 1,
      label,
      imageRef: run.imageRef,
      onProgress: (m) => progress(`waiting for health: ${m}`),
      ...(run.target.signal ? { signal: run.target.signal } : {}),
    });
    return `${role.name} healthy`;
  }
  progress(`no health check: must run ${ROLE_RUNNING_MS / 1000}s without exiting`);
  await watchFor(run, ROLE_RUNNING_MS, [{ id, label }]);
  return `${role.name} ran ${ROLE_RUNNING_MS / 1000}s`;
}

/** Before the commit point: every role's new container goes, and an old one `overlap: false` stopped runs again. */
export async function undoRoles(run: Run): Promise<void> {
  const app = run.target.app;
  for (const role of run.roles ?? []) {
    try {
      if (role.greenId) await run.deps.engine.remove(app, role.greenId);
      if (role.blueStopped && role.blue) await run.deps.engine.start(app, role.blue.id);
    } catch (err) {
      run.log.error({ role: role.name, err: toAgentError(err).message }, "could not undo a role's containers after the failure; reconcile will");
    }
  }
}

/**
 * After the commit point: every role container of the app that is not this deploy's goes (the
 * old releases', and those of roles no longer in the config), but the previous release's are only
 * stopped when the stop step kept web's for the watch. "" when there were none.
 */
export async function stopRoleBlues(run: Run): Promise<string> {
  const app = run.target.app;
  const old = (await run.deps.engine.containers(app)).roles.filter((c) => c.labels[AGENT_LABELS.deployId] !== run.id);
  // Kept with web's previous release for the watch after the switch (watch-roles.ts).
  const kept = run.keptBlue ? run.blue?.labels[AGENT_LABELS.deployId] : undefined;
  const done: string[] = [];
  for (const c of old) {
    try {
      if (kept !== undefined && c.labels[AGENT_LABELS.deployId] === kept) {
        await run.deps.engine.stop(app, c.id, run.app.stopTimeout);
        done.push(`stopped ${c.name}, kept for the watch`);
        continue;
      }
      await run.deps.engine.stopAndRemove(app, c.id, run.app.stopTimeout);
      done.push(`removed ${c.name}`);
    } catch (err) {
      // The new release serves; a role container that will not go is removed at the next reconcile.
      run.log.error({ container: c.name, err: toAgentError(err).message }, "could not stop or remove a role's previous container; the new release runs");
      done.push(`could not remove ${c.name}: ${toAgentError(err).message}`);
    }
  }
  return done.length > 0 ? `; roles: ${done.join(", ")}` : "";
}

/**
 * The release's role containers get the app's restart policy as it goes live (promote.ts). One
 * that stopped after it was judged (in confirm or drain, which watch only web's) is started again
 * now: its restart policy was still "no", so nothing else would. What went wrong is returned.
 */
export async function promoteRoles(deps: DeployDeps, appName: string, restart: string, deployId: string): Promise<string[]> {
  const problems: string[] = [];
  const roles = (await deps.engine.containers(appName)).roles.filter((c) => c.labels[AGENT_LABELS.deployId] === deployId);
  for (const c of roles) {
    try {
      await deps.engine.setRestartPolicy(appName, c.id, restart);
      if (!c.running) {
        await deps.engine.start(appName, c.id);
        deps.log.error({ app: appName, container: c.name, exitCode: c.exitCode }, "a role's new container had stopped before the release went live; started again");
        problems.push(`${c.name} had stopped (exit status ${c.exitCode}) before the release went live; started again`);
      }
    } catch (err) {
      problems.push(`could not set restart policy ${restart} on ${c.name} or start it: ${toAgentError(err).message}`);
    }
  }
  return problems;
}

/**
 * The configured roles with no container of the live release (a role added to agent.yaml since
 * it deployed, or one removed by hand): the live digest is then deployed again, so every role
 * runs it. Empty without roles, without asking the Engine.
 */
export async function rolesMissing(deps: DeployDeps, appName: string, liveDeployId: string): Promise<string[]> {
  const wanted = Object.keys(deps.config.apps[appName]?.roles ?? {});
  if (wanted.length === 0) return [];
  // Every poll that finds the live digest asks this: the Engine's list says enough, without an inspect per container.
  const { own } = await deps.engine.summary(appName);
  const have = own.filter((c) => c.labels[AGENT_LABELS.deployId] === liveDeployId).map((c) => appRoleOf(c.labels));
  return wanted.filter((r) => !have.includes(r));
}
