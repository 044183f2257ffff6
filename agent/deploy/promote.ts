// The one way a release becomes live, used by the deploy's record step and by reconcile when it
// finishes a deploy that had switched traffic: restart policy, keep-tag, state, pruning.
import type { AppConfig } from "../config/schema.js";
import { toAgentError } from "../errors.js";
import { isKeepTag, keepTag } from "../labels.js";
import type { Live, Release } from "../state/schema.js";
import { finishDeploy, promoteLive } from "../state/transitions.js";
import type { DeployDeps } from "./run.js";

export interface Promotion {
  containerId: string;
  live: Live;
  indexDigest?: string | undefined;
  /** When it became live; the release's deployedAt. */
  at: string;
}

/**
 * Green serves: give it the app's restart policy (it was created with "no" so a crash loop could
 * not hide a bad release), keep its image for rollback, record it live, clear its skip entry,
 * close its deploy record, and remove the keep-tags of releases beyond `keep`.
 */
export async function promote(deps: DeployDeps, appName: string, app: AppConfig, p: Promotion): Promise<{ keepTag: string; removed: string[] }> {
  const { live } = p;
  await deps.engine.setRestartPolicy(appName, p.containerId, app.restart);
  // A release kept before (a rollback re-promotes one) keeps its tag; a new one is tagged after its generation.
  const kept = deps.store.app(appName).releases.find((r) => r.digest === live.digest && r.keepTag && isKeepTag(appName, r.keepTag))?.keepTag;
  const tag = await deps.engine.keepImage(appName, live.imageId, live.generation, kept ?? keepTag(appName, live.generation));
  const release: Release = {
    deployId: live.deployId,
    version: live.version,
    digest: live.digest,
    ...(p.indexDigest ? { indexDigest: p.indexDigest } : {}),
    imageId: live.imageId,
    keepTag: tag,
    deployedAt: p.at,
  };
  const dropped = await deps.store.update((s) => {
    const gone = promoteLive(s, appName, release, live, app.keep);
    const appState = s.apps[appName];
    if (appState) appState.skip = appState.skip.filter((e) => e.digest !== live.digest);
    const r = appState?.history.find((h) => h.id === live.deployId);
    if (r) r.imageId = live.imageId;
    finishDeploy(s, appName, live.deployId, { outcome: "succeeded", endedAt: (deps.now ?? (() => new Date()))().toISOString() });
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
  return { keepTag: tag, removed };
}
