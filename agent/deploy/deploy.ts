// THE deploy sequence of shared/design/switch.md, top to bottom:
// resolve → pull → create → start → confirm → drain → stop → record.
// Any failure before blue is stopped removes green and leaves blue serving; the failure branch is in one place.
import { readFile } from "node:fs/promises";
import type Docker from "dockerode";
import type { AppConfig, Config } from "../config/schema.js";
import type { DeployEvent, DeployOutcome } from "../control/api.js";
import { containerIp, ensureNetwork, inspectContainer, removeContainer, stopContainer, tagImage, removeImage } from "../docker/containers.js";
import { chooseHealthcheck, checkRunning, sleep, waitHealthy } from "../docker/health.js";
import { inspectImage, pullImage, type EngineAuth } from "../docker/pull.js";
import type { Engine } from "../docker/engine.js";
import { AgentError, toAgentError } from "../errors.js";
import type { Logger } from "../log.js";
import type { StateStore } from "../state/store.js";
import type { DeployRecord, Release, StepName, Trigger } from "../state/schema.js";
import { addSkip, beginDeploy, endStep, finishDeploy, promoteLive, startStep } from "../state/transitions.js";
import type { TraefikConfirm } from "../traefik/api.js";
import { DeployLocks } from "./lock.js";
import { allNetworks, containerName, greenCreateOptions, greenSlot, parseEnvFile, primaryNetwork } from "./plan.js";

/** What the deploy needs from the registry module (agent/registry/client.ts). */
export interface Registry {
  resolveTag(image: string, tag: string): Promise<{ digest: string; indexDigest?: string }>;
  engineAuth(image: string): Promise<EngineAuth | undefined>;
}

export interface DeployDeps {
  config: Config;
  engine: Engine;
  registry: Registry;
  store: StateStore;
  locks: DeployLocks;
  log: Logger;
  traefik?: TraefikConfirm | undefined;
  now?: () => Date;
}

/** What to deploy. `digest` is known for polls and rollbacks; a CLI deploy of a tag resolves it. */
export interface DeployTarget {
  app: string;
  trigger: Trigger;
  version: string;
  digest?: string;
  indexDigest?: string;
  /** A local image to use instead of pulling (rollback). */
  imageId?: string;
  onEvent?: (e: DeployEvent) => void;
  /** Fires on SIGTERM: the deploy stops at the next safe point. */
  signal?: AbortSignal;
}

/** Where the sequence is; everything the failure branch and the record step need. */
interface Run {
  deps: DeployDeps;
  target: DeployTarget;
  app: AppConfig;
  id: string;
  slot: "blue" | "green";
  generation: number;
  digest: string;
  indexDigest?: string | undefined;
  imageId?: string;
  imageRef?: string;
  greenId?: string;
  blue?: Docker.ContainerInspectInfo | undefined;
  /** Set once blue is being stopped: from then on green serves and is never removed by a failure. */
  committed: boolean;
  log: Logger;
}

export async function runDeploy(deps: DeployDeps, target: DeployTarget): Promise<DeployOutcome> {
  const app = deps.config.apps[target.app];
  if (!app) throw new AgentError("BAD_ARGUMENT", `no app named "${target.app}" in the config`);
  const now = deps.now ?? (() => new Date());
  const release = deps.locks.acquire(target.app, {
    deployId: "-",
    version: target.version,
    trigger: target.trigger,
    step: "resolve",
    startedAt: now().toISOString(),
  });
  try {
    return await sequence(deps, target, app);
  } finally {
    release();
  }
}

async function sequence(deps: DeployDeps, target: DeployTarget, app: AppConfig): Promise<DeployOutcome> {
  const now = deps.now ?? (() => new Date());
  const resolveStarted = now().toISOString();
  let digest = target.digest;
  let indexDigest = target.indexDigest;
  let resolveError: unknown;
  if (!digest) {
    try {
      const r = await deps.registry.resolveTag(app.image, target.version);
      digest = r.digest;
      indexDigest = r.indexDigest;
    } catch (err) {
      resolveError = err;
    }
  }
  const live = deps.store.app(target.app).live;
  if (digest && live?.digest === digest && target.trigger !== "rollback") {
    return { deployId: live.deployId, app: target.app, outcome: "unchanged", version: target.version, digest, slot: live.slot, generation: live.generation };
  }

  const record = await deps.store.update((s) => {
    const r = beginDeploy(s, { app: target.app, trigger: target.trigger, version: target.version, startedAt: resolveStarted });
    if (digest) r.digest = digest;
    if (indexDigest) r.indexDigest = indexDigest;
    r.slot = greenSlot(s.apps[target.app]?.live);
    startStep(r, "resolve", resolveStarted);
    return structuredClone(r);
  });
  const run: Run = {
    deps,
    target,
    app,
    id: record.id,
    slot: record.slot ?? "blue",
    generation: record.generation ?? 0,
    digest: digest ?? "",
    indexDigest,
    committed: false,
    log: deps.log.child({ app: target.app, deployId: record.id, version: target.version, digest }),
  };
  deps.locks.setStep(target.app, "resolve", record.id);
  emit(run, { type: "started", app: target.app, deployId: record.id, trigger: target.trigger, version: target.version, at: resolveStarted });
  emit(run, { type: "step", app: target.app, deployId: run.id, step: "resolve", phase: "start", at: resolveStarted });

  try {
    if (resolveError) throw resolveError;
    await endStepNow(run, "resolve", `${short(run.digest)} → slot ${run.slot}, generation ${run.generation}`);
    await step(run, "pull", () => pull(run));
    await step(run, "create", () => create(run));
    await step(run, "start", () => start(run));
    await step(run, "confirm", () => confirm(run));
    await step(run, "drain", () => drain(run));
    run.committed = true;
    await step(run, "stop", () => stopBlue(run));
    await step(run, "record", () => recordSuccess(run));
    run.log.info({ slot: run.slot, generation: run.generation }, "deploy succeeded");
    return { deployId: run.id, app: target.app, outcome: "succeeded", version: target.version, digest: run.digest, slot: run.slot, generation: run.generation };
  } catch (err) {
    return await fail(run, toAgentError(err));
  }
}

/** Writes the step's start to the state file before doing it, so a restarted agent knows where it stopped. */
async function step(run: Run, name: StepName, body: () => Promise<string | void>): Promise<void> {
  if (!run.committed && run.target.signal?.aborted) {
    throw new AgentError("DEPLOY_ABORTED", `deploy ${run.id} of ${run.target.app} stopped before ${name}: the agent is shutting down`);
  }
  const at = nowIso(run);
  await updateRecord(run, (r) => startStep(r, name, at));
  run.deps.locks.setStep(run.target.app, name);
  run.log.info({ step: name }, `step ${name} started`);
  emit(run, { type: "step", app: run.target.app, deployId: run.id, step: name, phase: "start", at });
  const detail = await body();
  await endStepNow(run, name, detail ?? undefined);
}

async function endStepNow(run: Run, name: StepName, detail?: string): Promise<void> {
  const at = nowIso(run);
  await updateRecord(run, (r) => endStep(r, name, at, detail));
  run.log.info({ step: name, detail }, `step ${name} done`);
  emit(run, { type: "step", app: run.target.app, deployId: run.id, step: name, phase: "end", at, ...(detail ? { detail } : {}) });
}

/** Pull by digest, unless the image is already on the host (a rollback, or a re-deploy). */
async function pull(run: Run): Promise<string> {
  const { docker } = run.deps.engine;
  const ref = `${run.app.image}@${run.digest}`;
  const local = (await inspectImage(docker, ref)) ?? (run.target.imageId ? await inspectImage(docker, run.target.imageId) : undefined);
  if (local) {
    run.imageId = local.Id;
    run.imageRef = local.RepoDigests?.includes(ref) ? ref : local.Id;
    return `image already on the host (${short(local.Id)})`;
  }
  const auth = await run.deps.registry.engineAuth(run.app.image);
  const started = Date.now();
  const image = await pullImage(docker, ref, {
    auth,
    ...(run.target.signal ? { signal: run.target.signal } : {}),
    onProgress: (message) => emit(run, { type: "progress", app: run.target.app, deployId: run.id, step: "pull", message, at: nowIso(run) }),
  });
  run.imageId = image.Id;
  run.imageRef = ref;
  return `pulled ${short(image.Id)} in ${((Date.now() - started) / 1000).toFixed(1)}s`;
}

async function create(run: Run): Promise<string> {
  const { docker } = run.deps.engine;
  const image = await inspectImage(run.deps.engine.docker, run.imageId ?? "");
  if (!image) throw new AgentError("PULL_FAILED", `image ${run.imageId} vanished from the host before green was created`);
  const hc = await chooseHealthcheck(docker, image, run.target.app, {
    path: run.app.health.path,
    port: run.app.port,
    intervalMs: run.app.health.interval,
    startTimeoutMs: run.app.health.startTimeout,
    command: run.app.health.command,
  });
  const fileEnv = run.app.envFile ? await readEnvFile(run.target.app, run.app.envFile) : {};
  for (const net of allNetworks(run.app)) await ensureNetwork(docker, net);
  const name = containerName(run.target.app, run.slot);
  // A container left in green's slot (a failed deploy the agent could not clean up) is never the live one:
  // the live one holds the other slot.
  const leftover = await inspectContainer(docker, name);
  if (leftover) await removeContainer(docker, leftover.Id);
  run.blue = await liveContainer(run);
  const opts = greenCreateOptions(
    run.target.app,
    run.app,
    run.slot,
    run.generation,
    { deployId: run.id, version: run.target.version, digest: run.digest, imageRef: run.imageRef ?? image.Id },
    hc.healthcheck,
    fileEnv,
  );
  const green = await docker.createContainer(opts);
  run.greenId = green.id;
  for (const net of allNetworks(run.app).slice(1)) await docker.getNetwork(net).connect({ Container: green.id });
  return `${name} (${short(green.id)}), health check from ${hc.source}: ${hc.test.join(" ")}`;
}

async function start(run: Run): Promise<string> {
  const { docker } = run.deps.engine;
  const id = mustGreen(run);
  const started = Date.now();
  await docker.getContainer(id).start();
  const info = await docker.getContainer(id).inspect();
  const ip = containerIp(info, primaryNetwork(run.app));
  await waitHealthy(docker, id, {
    probeUrl: ip ? `http://${ip}:${run.app.port}${run.app.health.path}` : undefined,
    deadlineMs: run.app.health.startTimeout,
    successes: run.app.health.successes,
    label: `green ${info.Name.replace(/^\//, "")} (${run.target.version}, ${short(run.digest)})`,
    ...(run.target.signal ? { signal: run.target.signal } : {}),
  });
  return `healthy after ${((Date.now() - started) / 1000).toFixed(1)}s`;
}

/**
 * From Docker's `healthy` on, Traefik routes new requests to green (its router outranks blue's).
 * With a Traefik API configured, wait until it lists green; otherwise wait out Traefik's 2 s
 * reload throttle (protocols A5). Green is watched meanwhile: if it fails, Traefik is back on blue.
 */
async function confirm(run: Run): Promise<string> {
  if (!run.app.route) return "no route: nothing to switch";
  const id = mustGreen(run);
  const { docker } = run.deps.engine;
  if (run.deps.traefik) {
    const info = await docker.getContainer(id).inspect();
    const ip = containerIp(info, run.app.route.network);
    const url = `http://${ip}:${run.app.port}`;
    await run.deps.traefik.waitForServer(containerName(run.target.app, run.slot), url, {
      deadlineMs: Math.max(run.app.settle * 5, 15_000),
      check: () => checkRunning(docker, id, "green").then(() => undefined),
      ...(run.target.signal ? { signal: run.target.signal } : {}),
    });
    return `Traefik serves ${url}`;
  }
  await watchFor(run, run.app.settle);
  return `settled ${run.app.settle}ms`;
}

/** Blue gets no new requests now; let its in-flight ones finish while green keeps passing. */
async function drain(run: Run): Promise<string> {
  if (!run.blue) return "no blue to drain";
  if (!run.app.route) return "no route: nothing to drain";
  await watchFor(run, run.app.drain);
  return `drained ${run.app.drain}ms`;
}

async function stopBlue(run: Run): Promise<string> {
  if (!run.blue) return "no blue";
  const { docker } = run.deps.engine;
  const name = run.blue.Name.replace(/^\//, "");
  try {
    await stopContainer(docker, run.blue.Id, run.app.stopTimeout);
    await removeContainer(docker, run.blue.Id);
  } catch (err) {
    // Green already serves; a blue that will not go is reported, and removed at the next reconcile.
    run.log.error({ err: toAgentError(err).message, container: name }, "could not stop or remove blue; green serves");
    return `blue ${name} could not be removed: ${toAgentError(err).message}`;
  }
  return `stopped and removed ${name}`;
}

/** Green is live: give it the app's restart policy, keep its image for rollback, prune old releases. */
async function recordSuccess(run: Run): Promise<string> {
  const { docker } = run.deps.engine;
  const id = mustGreen(run);
  await docker.getContainer(id).update({ RestartPolicy: { Name: run.app.restart, MaximumRetryCount: 0 } });
  // A release already kept (a rollback re-promotes one) keeps its tag; a new one is tagged after its generation.
  const kept = run.deps.store.app(run.target.app).releases.find((r) => r.digest === run.digest && r.keepTag);
  const keep = kept?.keepTag ?? `deploy-agent/${run.target.app}:gen-${run.generation}`;
  const colon = keep.lastIndexOf(":");
  await tagImage(docker, run.imageId ?? "", keep.slice(0, colon), keep.slice(colon + 1));
  const at = nowIso(run);
  const release: Release = {
    deployId: run.id,
    version: run.target.version,
    digest: run.digest,
    ...(run.indexDigest ? { indexDigest: run.indexDigest } : {}),
    imageId: run.imageId ?? "",
    keepTag: keep,
    deployedAt: at,
  };
  const dropped = await run.deps.store.update((s) => {
    const gone = promoteLive(
      s,
      run.target.app,
      release,
      { deployId: run.id, version: run.target.version, digest: run.digest, imageId: release.imageId, slot: run.slot, generation: run.generation, since: at },
      run.app.keep,
    );
    const appState = s.apps[run.target.app];
    if (appState) appState.skip = appState.skip.filter((e) => e.digest !== run.digest);
    const r = appState?.history.find((h) => h.id === run.id);
    if (r) r.imageId = release.imageId;
    return gone;
  });
  const removed: string[] = [];
  for (const old of dropped) {
    if (old.keepTag && old.keepTag !== release.keepTag) await removeImage(docker, old.keepTag);
    if (old.imageId !== release.imageId && (await removeImage(docker, old.imageId))) removed.push(short(old.imageId));
  }
  await run.deps.store.update((s) => {
    finishDeploy(s, run.target.app, run.id, { outcome: "succeeded", endedAt: nowIso(run) });
  });
  return removed.length > 0 ? `kept ${release.keepTag}; removed old images ${removed.join(", ")}` : `kept ${release.keepTag}`;
}

/** The failure branch: before the commit point green goes and blue stays; the record says why. */
async function fail(run: Run, err: AgentError): Promise<DeployOutcome> {
  const aborted = err.code === "DEPLOY_ABORTED";
  run.log.error({ code: err.code, err: err.message }, aborted ? "deploy aborted; blue keeps serving" : "deploy failed; blue keeps serving");
  if (!run.committed && run.greenId) {
    try {
      await removeContainer(run.deps.engine.docker, run.greenId);
    } catch (cleanupErr) {
      run.log.error({ err: toAgentError(cleanupErr).message }, "could not remove green after the failure; reconcile will");
    }
  }
  const error = err.toJSON();
  await run.deps.store.update((s) => {
    finishDeploy(s, run.target.app, run.id, { outcome: aborted ? "aborted" : "failed", error, endedAt: nowIso(run) });
    // A failed digest is not retried by the poller until asked or until the tag moves on.
    if (!aborted && run.digest) {
      addSkip(s, run.target.app, { digest: run.digest, version: run.target.version, reason: "failed", deployId: run.id, at: nowIso(run) });
    }
  });
  return {
    deployId: run.id,
    app: run.target.app,
    outcome: aborted ? "aborted" : "failed",
    version: run.target.version,
    ...(run.digest ? { digest: run.digest } : {}),
    slot: run.slot,
    generation: run.generation,
    error,
  };
}

/** Waits `ms` while checking every half second that green still runs and passes. */
async function watchFor(run: Run, ms: number): Promise<void> {
  const id = mustGreen(run);
  const until = Date.now() + ms;
  for (;;) {
    await checkRunning(run.deps.engine.docker, id, "green");
    const left = until - Date.now();
    if (left <= 0) return;
    await sleep(Math.min(500, left));
  }
}

/** The container serving the app now: the live release's slot, as the Engine shows it. */
async function liveContainer(run: Run): Promise<Docker.ContainerInspectInfo | undefined> {
  const live = run.deps.store.app(run.target.app).live;
  if (!live) return undefined;
  const info = await inspectContainer(run.deps.engine.docker, containerName(run.target.app, live.slot));
  return info?.State.Running ? info : undefined;
}

async function readEnvFile(app: string, path: string): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new AgentError("CONFIG_INVALID", `apps.${app}.envFile: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  try {
    return parseEnvFile(text, path);
  } catch (err) {
    throw new AgentError("CONFIG_INVALID", `apps.${app}.envFile: ${(err as Error).message}`);
  }
}

async function updateRecord(run: Run, fn: (r: DeployRecord) => void): Promise<void> {
  await run.deps.store.update((s) => {
    const r = s.apps[run.target.app]?.history.find((h) => h.id === run.id);
    if (!r) throw new AgentError("INTERNAL", `deploy ${run.id} of ${run.target.app} is missing from the state file`);
    fn(r);
  });
}

function mustGreen(run: Run): string {
  if (!run.greenId) throw new AgentError("INTERNAL", `deploy ${run.id}: green was not created`);
  return run.greenId;
}

function emit(run: Pick<Run, "target">, e: DeployEvent): void {
  try {
    run.target.onEvent?.(e);
  } catch {
    // A listener that went away (agentctl disconnected) must not stop the deploy.
  }
}

function nowIso(run: Run): string {
  return (run.deps.now ?? (() => new Date()))().toISOString();
}

export function short(digestOrId: string): string {
  return digestOrId.replace(/^sha256:/, "").slice(0, 12);
}
