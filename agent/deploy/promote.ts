// The one way a release becomes live, used by the deploy's record step and by reconcile when it
// finishes a deploy that had switched traffic: restart policy, keep-tag, state, pruning.
import type { AppConfig } from "../config/schema.js";
import { toAgentError } from "../errors.js";
import { isKeepTag, keepTag } from "../labels.js";
import type { Live, Release, Watch } from "../state/schema.js";
import { finishDeploy, promoteLive } from "../state/transitions.js";
import { promoteRoles } from "./roles.js";
import type { DeployDeps } from "./run.js";

export interface Promotion {
  /** Web's new container; absent for a Swarm app, whose services Swarm restarts itself. */
  containerId?: string | undefined;
  live: Live;
  indexDigest?: string | undefined;
  /** When it became live; the release's deployedAt. */
  at: string;
  /** The watch after the switch, written in the same update that records the release live. */
  watch?: Watch;
}

/**
 * Green serves: give it the app's restart policy (it was created with "no" so a crash loop could
 * not hide a bad release), keep its image for rollback, record it live, clear its skip entry,
 * close its deploy record, and remove the keep-tags of releases beyond `keep`. Green is live
 * whatever fails here: an Engine error is logged and returned in `problems`, and the state is
 * recorded all the same.
 */
export async function promote(deps: DeployDeps, appName: string, app: AppConfig, p: Promotion): Promise<{ keepTag?: string; removed: string[]; problems: string[] }> {
  const { live } = p;
  const problems: string[] = [];
  const attempt = async <T>(what: string, fn: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await fn();
    } catch (err) {
      const message = `could not ${what}: ${toAgentError(err).message}`;
      deps.log.error({ app: appName, err: message }, "the new release serves, but a last step failed");
      problems.push(message);
      return undefined;
    }
  };
  const id = p.containerId;
  if (id !== undefined) {
    await attempt(`set restart policy ${app.restart}`, () => deps.engine.setRestartPolicy(appName, id, app.restart));
    if (Object.keys(app.roles).length > 0) problems.push(...((await attempt("list the roles' containers", () => promoteRoles(deps, appName, app.restart, live.deployId))) ?? []));
  }
  // A release kept before (a rollback re-promotes one) keeps its tag; a new one is tagged after its generation.
  const kept = deps.store.app(appName).releases.find((r) => r.digest === live.digest && r.keepTag && isKeepTag(appName, r.keepTag))?.keepTag;
  const wanted = kept ?? keepTag(appName, live.generation);
  const tag = await attempt(`tag the image as ${wanted}`, () => deps.engine.keepImage(appName, live.imageId, live.generation, wanted));
  const release: Release = {
    deployId: live.deployId,
    version: live.version,
    digest: live.digest,
    ...(p.indexDigest ? { indexDigest: p.indexDigest } : {}),
    imageId: live.imageId,
    ...(tag ? { keepTag: tag } : {}),
    deployedAt: p.at,
  };
  const dropped = await deps.store.update((s) => {
    const gone = promoteLive(s, appName, release, live, app.keep);
    const appState = s.apps[appName];
    if (appState) appState.skip = appState.skip.filter((e) => e.digest !== live.digest);
    if (appState && p.watch) appState.watch = p.watch;
    const r = appState?.history.find((h) => h.id === live.deployId);
    if (r) r.imageId = live.imageId;
    if (r?.outcome === "running") finishDeploy(s, appName, live.deployId, { outcome: "succeeded", endedAt: (deps.now ?? (() => new Date()))().toISOString() });
    return gone;
  });
  const removed: string[] = [];
  const stillKept = new Set([live.digest, ...deps.store.app(appName).releases.map((r) => r.digest)]);
  for (const old of dropped) {
    if (!old.keepTag || old.keepTag === tag) continue;
    try {
      // Only the agent's own references go (its keep-tag, then its by-digest pull reference): the image
      // goes with them when nothing else (no tag of anyone's, no container) holds it.
      if (await deps.engine.dropKeepTag(appName, old.keepTag)) removed.push(old.keepTag);
      if (!stillKept.has(old.digest)) await deps.engine.dropPullRef(app.image, old.digest);
    } catch (err) {
      deps.log.warn({ app: appName, tag: old.keepTag, err: toAgentError(err).message }, "could not remove an old release's image references");
    }
  }
  return { ...(tag ? { keepTag: tag } : {}), removed, problems };
}
