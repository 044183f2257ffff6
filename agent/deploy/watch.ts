// The watch after a switch (config `watch`, docs/design.md#the-watch-after-the-switch): blue stays on
// the host, stopped, until the watch ends. If green fails meanwhile the agent starts blue again,
// waits until it is healthy (Traefik routes to it from then on, green being unhealthy or dead),
// then takes green out and records blue live again. The callers hold the app's deploy lock.
import { primaryNetwork } from "../config/networks.js";
import { AgentError, toAgentError } from "../errors.js";
import { addSkip, ensureApp } from "../state/transitions.js";
import type { Watch } from "../state/schema.js";
import { sleep } from "../sleep.js";
import type { DeployDeps } from "./run.js";
import { greenFailure, watchOnStart } from "./watch-rules.js";
import { endWatchRoles, rollBackRoles } from "./watch-roles.js";

/**
 * Ends the watch: blue goes (stopped already; removed now) and `watch` is cleared. With
 * `keepOnEngineError`, an Engine that does not answer leaves the watch open, to be ended at the
 * next check; otherwise a blue that will not go is left for the next deploy (createGreen clears a
 * container of ours in its slot) or for reconcile.
 */
export async function endWatch(deps: DeployDeps, app: string, why: string, opts: { keepOnEngineError?: boolean } = {}): Promise<void> {
  const w = deps.store.app(app).watch;
  if (!w) return;
  const cfg = deps.config.apps[app];
  try {
    await deps.engine.stopAndRemove(app, w.blue.id, cfg?.stopTimeout ?? 10_000);
  } catch (err) {
    const e = toAgentError(err);
    if (opts.keepOnEngineError && e.code === "ENGINE_UNAVAILABLE") throw e;
    deps.log.error({ app, container: w.blue.name, err: e.message }, "could not remove the previous release at the end of the watch");
  }
  await endWatchRoles(deps, app, w.blue.deployId, deps.log);
  await clearWatch(deps, app, w.deployId);
  deps.log.info({ app, deployId: w.deployId, container: w.blue.name }, `the watch after the switch ended: ${why}; the previous release was removed`);
}

async function clearWatch(deps: DeployDeps, app: string, deployId: string): Promise<void> {
  await deps.store.update((s) => {
    const a = s.apps[app];
    if (a?.watch?.deployId === deployId) delete a.watch;
  });
}

/**
 * Green failed during the watch: roll back to blue by itself. The reason is written first, so an
 * agent restarted in the middle finishes the rollback. If blue cannot be started or never turns
 * healthy, green stays (it may still serve), the record says so, and the watch is dropped.
 */
export async function rollBackWatch(deps: DeployDeps, app: string, reason: string): Promise<"rolled-back" | "blue-failed" | "none"> {
  const w = deps.store.app(app).watch;
  const cfg = deps.config.apps[app];
  if (!w || !cfg) return "none";
  const log = deps.log.child({ app, deployId: w.deployId });
  log.error({ reason, container: w.blue.name }, "the new release failed during the watch after the switch; rolling back to the previous release");
  await deps.store.update((s) => {
    const a = s.apps[app];
    if (a?.watch?.deployId === w.deployId) a.watch.rollingBack = reason;
  });
  // A green that exits now must not come back by its restart policy and be routed again.
  await deps.engine.setRestartPolicy(app, w.greenId, "no").catch(() => undefined);
  try {
    const info = await deps.engine.start(app, w.blue.id);
    const network = primaryNetwork(cfg);
    const ip = network ? info.ips[network] : Object.values(info.ips)[0];
    await deps.engine.waitHealthy(w.blue.id, {
      probeUrl: ip ? `http://${ip}:${cfg.port}${cfg.health.path}` : undefined,
      deadlineMs: cfg.health.startTimeout,
      successes: cfg.health.successes,
      label: `the previous release ${w.blue.name} (${w.blue.version})`,
      imageRef: w.blue.imageId,
    });
  } catch (err) {
    const e = toAgentError(err);
    // The Engine went away: `rollingBack` stays, and reconcile finishes the rollback when it is back.
    if (e.code === "ENGINE_UNAVAILABLE") throw e;
    await blueFailed(deps, app, w, reason, e);
    return "blue-failed";
  }
  // Traefik drops an unhealthy green only at its next reload after the event, up to `settle` later
  // (docs/design.md#events-and-throttle); a green still running keeps getting requests until then,
  // so it is stopped only after that. A green that exited gets none.
  const green = await deps.engine.inspect(w.greenId).catch(() => undefined);
  if (green?.running) await sleep(cfg.settle);
  try {
    await deps.engine.stopAndRemove(app, w.greenId, cfg.stopTimeout);
  } catch (err) {
    log.error({ err: toAgentError(err).message }, "could not remove the failed new release; reconcile will");
  }
  await rollBackRoles(deps, app, w, log);
  const greenDigest = await recordRolledBack(deps, app, w, reason);
  log.warn({ container: w.blue.name, reason }, "rolled back by the watch: the previous release serves again");
  const record = deps.store.app(app).history.find((h) => h.id === w.deployId);
  deps.notify?.send({
    event: "rolled-back",
    app,
    deployId: w.deployId,
    trigger: "watch",
    outcome: "rolled-back",
    reason,
    ...(greenDigest ? { release: { version: record?.version ?? "unknown", digest: greenDigest } } : {}),
    previous: { version: w.blue.version, digest: w.blue.digest },
    ...(record?.error ? { error: record.error } : {}),
  });
  return "rolled-back";
}

/** Blue is live again, the deploy is `rolled-back`, green's digest is skipped and its release forgotten. Returns green's digest. */
async function recordRolledBack(deps: DeployDeps, app: string, w: Watch, reason: string): Promise<string | undefined> {
  const at = (deps.now ?? (() => new Date()))().toISOString();
  const error = new AgentError("WATCH_FAILED", `${reason} during the watch after the switch; the agent rolled back to ${w.blue.version} (${w.blue.name})`, {
    hint: "the release is skip-listed; agentctl history shows it, and a new digest of the tracked tag deploys as usual",
  }).toJSON();
  let greenDigest: string | undefined;
  const dropped = await deps.store.update((s) => {
    const a = ensureApp(s, app);
    const record = a.history.find((h) => h.id === w.deployId);
    greenDigest = record?.digest ?? (a.live?.deployId === w.deployId ? a.live.digest : undefined);
    a.live = { deployId: w.blue.deployId, version: w.blue.version, digest: w.blue.digest, imageId: w.blue.imageId, slot: w.blue.slot, generation: w.blue.generation, since: at };
    delete a.watch;
    if (record) {
      record.outcome = "rolled-back";
      record.error = error;
    }
    const gone = a.releases.filter((r) => r.digest === greenDigest && r.digest !== w.blue.digest);
    a.releases = a.releases.filter((r) => !gone.includes(r));
    if (greenDigest && greenDigest !== w.blue.digest) addSkip(s, app, { digest: greenDigest, version: record?.version ?? "unknown", reason: "failed", deployId: w.deployId, at });
    return gone;
  });
  for (const r of dropped) if (r.keepTag) await deps.engine.dropKeepTag(app, r.keepTag).catch(() => false);
  return greenDigest;
}

async function blueFailed(deps: DeployDeps, app: string, w: Watch, reason: string, err: AgentError): Promise<void> {
  const message = `${reason} during the watch after the switch, and the previous release ${w.blue.name} could not be started again: ${err.message}; the new release stays in place`;
  deps.log.error({ app, deployId: w.deployId, code: err.code, err: err.message }, `automatic rollback failed: ${message}`);
  const cfg = deps.config.apps[app];
  // A blue that runs but never turned healthy gets no requests; it is stopped so it does not come
  // to serve a half-started release later, and kept for a person to look at until the next deploy.
  await deps.engine.stop(app, w.blue.id, cfg?.stopTimeout ?? 10_000).catch(() => undefined);
  await deps.store.update((s) => {
    const a = s.apps[app];
    const record = a?.history.find((h) => h.id === w.deployId);
    if (record) record.error = new AgentError("WATCH_FAILED", message, { hint: "docker logs of both containers show why; agentctl rollback or deploy picks a release by hand" }).toJSON();
    if (a?.watch?.deployId === w.deployId) delete a.watch;
  });
}

/**
 * At start, and when the Engine comes back: what to do with a watch in the state file
 * (watch-rules.ts watchOnStart). Returns blue's id while the watch goes on, so reconcile leaves
 * that stopped container alone.
 */
export async function reconcileWatch(deps: DeployDeps, app: string, note: (m: string) => void): Promise<string | undefined> {
  const w = deps.store.app(app).watch;
  if (!w) return undefined;
  const blue = await deps.engine.inspect(w.blue.id);
  const green = await deps.engine.inspect(w.greenId);
  const d = watchOnStart(w, Date.now(), blue?.id === w.blue.id, greenFailure(green));
  switch (d.action) {
    case "drop":
      await clearWatch(deps, app, w.deployId);
      note(`the previous release ${w.blue.name} kept for the watch after deploy ${w.deployId} is gone; the watch was dropped`);
      return undefined;
    case "end":
      await endWatch(deps, app, "its time passed while the agent was away");
      note(`the watch after deploy ${w.deployId} ended while the agent was away; ${w.blue.name} was removed`);
      return undefined;
    case "rollback": {
      const r = await rollBackWatch(deps, app, d.reason);
      note(r === "rolled-back" ? `deploy ${w.deployId} was rolled back by its watch: ${d.reason}` : `deploy ${w.deployId} failed its watch (${d.reason}) and the previous release could not be started again`);
      return undefined;
    }
    case "resume":
      note(`the watch after deploy ${w.deployId} resumes for ${Math.ceil(d.remainingMs / 1000)}s; ${w.blue.name} stays stopped until then`);
      return w.blue.id;
  }
}
