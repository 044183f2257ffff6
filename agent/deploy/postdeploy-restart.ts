// A deploy the agent stopped in after the switch (confirm, drain, stop) is finished by reconcile at
// the next start (reconcile.ts). Its postdeploy had not run yet, and the release it would run for
// is live now, so it runs here, in the order a deploy runs it: after the previous release stopped,
// before the release is recorded live. A deploy stopped *during* postdeploy is not run again: the
// command may have done its work, and a hook is not known to be safe to run twice.
import type { AppConfig } from "../config/schema.js";
import type { DeployRecord, Live } from "../state/schema.js";
import { endStep, startStep } from "../state/transitions.js";
import { postdeployFailed } from "./notify-outcome.js";
import { tryPostdeploy } from "./one-off.js";
import { updateRecordOf, type DeployDeps } from "./run.js";

/** Runs the app's postdeploy for `record` when the agent stopped before it; returns what it did, or undefined when nothing was due. */
export async function postdeployAfterRestart(deps: DeployDeps, appName: string, app: AppConfig, record: DeployRecord, live: Live): Promise<string | undefined> {
  const cfg = app.postdeploy;
  if (!cfg || record.steps.some((st) => st.name === "postdeploy")) return undefined;
  const inRecord = (fn: (r: DeployRecord) => void) => updateRecordOf(deps, appName, record.id, fn);
  await inRecord((r) => startStep(r, "postdeploy", new Date().toISOString()));
  const log = deps.log.child({ app: appName, deployId: record.id, step: "postdeploy" });
  const release = { deployId: record.id, version: live.version, digest: live.digest, imageRef: live.imageId };
  const { detail: words, failed } = await tryPostdeploy({ deps, appName, app, release }, cfg);
  const detail = `${words}; run at the agent's start, which finished the deploy it had stopped in`;
  await inRecord((r) => endStep(r, "postdeploy", new Date().toISOString(), detail));
  if (failed) {
    log.warn({ detail }, "the postdeploy command failed; the new release stays live");
    const ref = { version: live.version, ...(live.digest ? { digest: live.digest } : {}) };
    deps.notify?.send(postdeployFailed({ app: appName, deployId: record.id, trigger: record.trigger, release: ref }, failed));
  } else log.info({ detail }, "postdeploy ran for the deploy finished at start");
  return detail;
}
