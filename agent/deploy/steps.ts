// The bodies of the deploy steps; deploy.ts runs them in order and owns the failure branch.
// Each returns the detail recorded with its step.
import { readFile } from "node:fs/promises";
import type Docker from "dockerode";
import { containerIp, ensureNetwork, inspectContainer, removeContainer, stopContainer, tagImage, removeImage } from "../docker/containers.js";
import { chooseHealthcheck, checkRunning, sleep, waitHealthy } from "../docker/health.js";
import { inspectImage, pullImage } from "../docker/pull.js";
import { AgentError, toAgentError } from "../errors.js";
import type { Release } from "../state/schema.js";
import { promoteLive, finishDeploy } from "../state/transitions.js";
import { allNetworks, containerName, greenCreateOptions, parseEnvFile, primaryNetwork } from "./plan.js";
import { emit, mustGreen, nowIso, short, type Run } from "./run.js";

/** Pull by digest, unless the image is already on the host (a rollback, or a re-deploy). */
export async function pull(run: Run): Promise<string> {
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

export async function create(run: Run): Promise<string> {
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

export async function start(run: Run): Promise<string> {
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
 * reload throttle (docs/design.md#events-and-throttle). Green is watched meanwhile: if it fails, Traefik is back on blue.
 */
export async function confirm(run: Run): Promise<string> {
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
export async function drain(run: Run): Promise<string> {
  if (!run.blue) return "no blue to drain";
  if (!run.app.route) return "no route: nothing to drain";
  await watchFor(run, run.app.drain);
  return `drained ${run.app.drain}ms`;
}

export async function stopBlue(run: Run): Promise<string> {
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
export async function recordSuccess(run: Run): Promise<string> {
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
