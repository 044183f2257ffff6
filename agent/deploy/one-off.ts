// Release steps (docs/design.md#release-steps): `predeploy` runs the app's command in a one-off
// container of the new release after the pull and before green is created, so migrations are done
// before new code takes traffic; `postdeploy` runs after the switch and never undoes it. Each
// one-off sees what green sees (env, envFile, volumes, networks) and is removed when it ends.
import type { AppConfig, ReleaseStepConfig } from "../config/schema.js";
import { allNetworks } from "../config/networks.js";
import type { ContainerSpec } from "../docker/engine.js";
import { NO_HEALTHCHECK } from "../docker/healthcheck.js";
import { AgentError, toAgentError } from "../errors.js";
import { AGENT_LABELS, type OneOffRole } from "../labels.js";
import { hookFailureWords } from "../state/describe.js";
import type { HookRun } from "../state/schema.js";
import type { PostdeployFailure } from "./notify-outcome.js";
import { releaseContainerOptions, type GreenRelease } from "./plan.js";
import { short, updateRecordOf, type DeployDeps, type Run } from "./run.js";
import { readEnvFile } from "./steps.js";

/** How many of the command's last output lines the record keeps (bounded to 4 KB by docker/ as well). */
export const HOOK_OUTPUT_LINES = 20;

/** `<app>-predeploy`, `<app>-postdeploy`: one at a time per app, as the deploy lock allows. */
export function oneOffName(app: string, role: OneOffRole): string {
  return `${app}-${role}`;
}

/**
 * Create options of a release step's one-off: the release's (plan.ts), minus what only a server
 * needs: no slot, no Traefik labels, no exposed port, no health check (the image's own HEALTHCHECK
 * is turned off: the command's exit is what counts). The role label keeps it out of the
 * slots and lets reconcile remove it when the agent stopped while it ran.
 */
export function oneOffCreateOptions(appName: string, app: AppConfig, role: OneOffRole, release: GreenRelease, fileEnv: Record<string, string> = {}): ContainerSpec {
  const step = app[role];
  if (!step) throw new AgentError("INTERNAL", `apps.${appName}.${role} is not configured, so there is nothing to run`);
  const container = { name: oneOffName(appName, role), labels: { [AGENT_LABELS.role]: role }, healthcheck: NO_HEALTHCHECK, cmd: step.command };
  return releaseContainerOptions(appName, app, release, container, fileEnv);
}

/**
 * Runs `predeploy` from the new release's image. A non-zero exit or a timeout is PREDEPLOY_FAILED:
 * a fault of the release, raised before green exists, so nothing of it ever served.
 */
export async function predeploy(run: Run): Promise<string> {
  const cfg = run.app.predeploy;
  if (!cfg) return "not configured";
  const hook = await runHook(hookTarget(run), "predeploy", cfg);
  const failure = hookFailureWords(hook, cfg.timeout);
  if (!failure) return `${commandWords(cfg)} exited 0 after ${seconds(hook)}`;
  const lastLine = hook.output.split("\n").filter((l) => l.trim() !== "").at(-1);
  throw new AgentError(
    "PREDEPLOY_FAILED",
    `the predeploy of ${run.target.app} ${run.target.version} (${commandWords(cfg)}) ${failure}${lastLine ? `; its last line: ${lastLine}` : ""}; nothing of the new release was started and the previous release keeps serving`,
    {
      hint: `its last output lines are in "agentctl history --json" (hooks.predeploy); polling skips ${short(run.digest)}: fix the release and push it again, or "agentctl deploy ${run.target.app} <tag>" to try it by hand`,
    },
  );
}

/**
 * Runs `postdeploy` against `t` and never throws: the words for the step's detail and, when it
 * failed or could not run, what the record and the notification say of it. Shared by the deploy's
 * own step and by reconcile finishing a deploy at start (postdeploy-restart.ts).
 */
export async function tryPostdeploy(t: HookTarget, cfg: ReleaseStepConfig): Promise<{ detail: string; failed?: PostdeployFailure }> {
  try {
    const hook = await runHook(t, "postdeploy", cfg);
    const failure = hookFailureWords(hook, cfg.timeout);
    if (!failure) return { detail: `${commandWords(cfg)} exited 0 after ${seconds(hook)}` };
    return { detail: `${commandWords(cfg)} ${failure}`, failed: { hook } };
  } catch (err) {
    const e = toAgentError(err);
    return { detail: `${commandWords(cfg)} could not run: ${e.message}`, failed: { error: e.toJSON() } };
  }
}

/**
 * Runs `postdeploy` after the switch. It never throws: the new release serves and stays live
 * whatever happens here; a failure is recorded in the step's detail and hooks.postdeploy, and kept
 * for the `postdeploy-failed` notification.
 */
export async function postdeploy(run: Run): Promise<string> {
  const cfg = run.app.postdeploy;
  if (!cfg) return "not configured";
  const { detail, failed } = await tryPostdeploy(hookTarget(run), cfg);
  if (!failed) return detail;
  const e = failed.error;
  if (!e) {
    if (run.notes) run.notes.postdeploy = failed;
    run.log.warn({ exitCode: failed.hook?.exitCode, timedOut: failed.hook?.timedOut }, "the postdeploy command failed; the new release stays live");
    return `${detail}; the new release stays live (postdeploy never rolls back)`;
  }
  // Stopped by the agent's own SIGTERM: like any deploy cut off by a stop, nothing is sent for it.
  if (run.notes && e.code !== "DEPLOY_ABORTED") run.notes.postdeploy = failed;
  run.log.warn({ code: e.code, err: e.message }, "the postdeploy command could not run; the new release stays live");
  return `${detail}; the new release stays live`;
}

/** What a release step runs against: the app, the release it runs from, and the deploy it is recorded in. */
export interface HookTarget {
  deps: DeployDeps;
  appName: string;
  app: AppConfig;
  release: GreenRelease;
  signal?: AbortSignal | undefined;
}

function hookTarget(run: Run): HookTarget {
  const release = { deployId: run.id, version: run.target.version, digest: run.digest, imageRef: run.imageRef ?? run.imageId ?? "" };
  return { deps: run.deps, appName: run.target.app, app: run.app, release, signal: run.target.signal };
}

/** Runs the one-off to its end (docker/ removes it) and records how it ended in the deploy record. */
export async function runHook(t: HookTarget, role: OneOffRole, cfg: ReleaseStepConfig): Promise<HookRun> {
  const { engine } = t.deps;
  const fileEnv = t.app.envFile ? await readEnvFile(t.appName, t.app.envFile) : {};
  const nets = allNetworks(t.app);
  for (const net of nets) await engine.ensureNetwork(net);
  const spec = oneOffCreateOptions(t.appName, t.app, role, t.release, fileEnv);
  const r = await engine.runOneOff(t.appName, spec, nets.slice(1), {
    timeoutMs: cfg.timeout,
    tailLines: HOOK_OUTPUT_LINES,
    label: `the ${role} of ${t.appName} (${commandWords(cfg)})`,
    signal: t.signal,
  });
  const hook: HookRun = { exitCode: r.exitCode, timedOut: r.timedOut, output: r.output, ...(r.durationMs !== undefined ? { durationMs: r.durationMs } : {}) };
  await updateRecordOf(t.deps, t.appName, t.release.deployId, (rec) => {
    rec.hooks = { ...rec.hooks, [role]: hook };
  });
  return hook;
}

function commandWords(cfg: ReleaseStepConfig): string {
  return cfg.command.join(" ");
}

function seconds(h: HookRun): string {
  return h.durationMs === undefined ? "?" : `${(h.durationMs / 1000).toFixed(1)}s`;
}
