// The bodies of the deploy steps; deploy.ts runs them in order and owns the failure branch.
// Each returns the detail recorded with its step.
import { readFile, stat } from "node:fs/promises";
import { deadline, stopwatch } from "../clock.js";
import { parseEnvFile } from "../config/env-file.js";
import { secretModeProblem } from "../config/secret-mode.js";
import { allNetworks, primaryNetwork } from "../config/networks.js";
import type { ContainerDetail } from "../docker/engine.js";
import { AgentError, toAgentError } from "../errors.js";
import { AGENT_LABELS } from "../labels.js";
import { sleep } from "../sleep.js";
import { containerName, greenCreateOptions } from "./plan.js";
import { promote } from "./promote.js";
import { emit, mustGreen, nowIso, short, type Run } from "./run.js";
import { createRoles, startRoles } from "./roles.js";
import { checkRelease, watchFor } from "./watch-for.js";
import { watchRecord } from "./watch-rules.js";

/** Pull by digest, unless the image is already on the host (a rollback, or a re-deploy). */
export async function pull(run: Run): Promise<string> {
  const { engine } = run.deps;
  const ref = `${run.app.image}@${run.digest}`;
  const local = (await engine.inspectImage(ref)) ?? (run.target.imageId ? await engine.inspectImage(run.target.imageId) : undefined);
  if (local) {
    run.imageId = local.id;
    run.imageRef = local.repoDigests.includes(ref) ? ref : local.id;
    return `image already on the host (${short(local.id)})`;
  }
  const auth = await run.deps.registry.engineAuth(run.app.image);
  const took = stopwatch(run.deps.clock);
  const image = await engine.pullImage(ref, {
    auth,
    ...(run.target.signal ? { signal: run.target.signal } : {}),
    onProgress: (message) => emit(run, { type: "progress", app: run.target.app, deployId: run.id, step: "pull", message, at: nowIso(run) }),
  });
  run.imageId = image.id;
  run.imageRef = ref;
  return `pulled ${short(image.id)} in ${took.seconds()}`;
}

/**
 * Creates green: the image is judged first (docker/ refuses one that carries routing or agent
 * labels), then its health check is chosen, then the container is made in green's slot, which
 * docker/ clears only of a leftover of this agent's own.
 */
export async function create(run: Run): Promise<string> {
  const { engine } = run.deps;
  const image = await engine.inspectImage(run.imageId ?? "");
  if (!image) throw new AgentError("PULL_FAILED", `image ${run.imageId} vanished from the host before the new release's container was created`);
  const hc = await engine.chooseHealthcheck(run.target.app, image, {
    path: run.app.health.path,
    port: run.app.port,
    intervalMs: run.app.health.interval,
    startTimeoutMs: run.app.health.startTimeout,
    command: run.app.health.command,
  });
  const fileEnv = run.app.envFile ? await readEnvFile(run.target.app, run.app.envFile) : {};
  for (const net of allNetworks(run.app)) await engine.ensureNetwork(net);
  const name = containerName(run.target.app, run.slot);
  run.blue = await liveContainer(run);
  const opts = greenCreateOptions(
    run.target.app,
    run.app,
    run.slot,
    run.generation,
    { deployId: run.id, version: run.target.version, digest: run.digest, imageRef: run.imageRef ?? image.id },
    hc.healthcheck,
    fileEnv,
  );
  run.greenId = await engine.createGreen(run.target.app, opts, allNetworks(run.app).slice(1));
  const roles = await createRoles(run, image, fileEnv);
  return `${name} (${short(run.greenId)}), health check from ${hc.source}: ${hc.test.join(" ")}${roles}`;
}

export async function start(run: Run): Promise<string> {
  const { engine } = run.deps;
  const id = mustGreen(run);
  const took = stopwatch(run.deps.clock);
  // Roles first: once web's green is healthy Traefik routes to it, and then it cannot go at once.
  const roles = await startRoles(run);
  const info = await engine.start(run.target.app, id);
  const ip = containerIp(info, primaryNetwork(run.app));
  await engine.waitHealthy(id, {
    probeUrl: ip ? `http://${ip}:${run.app.port}${run.app.health.path}` : undefined,
    deadlineMs: run.app.health.startTimeout,
    successes: run.app.health.successes,
    label: `the new release ${info.name} (${run.target.version}, ${short(run.digest)})`,
    imageRef: run.imageRef,
    onProgress: (message) => emit(run, { type: "progress", app: run.target.app, deployId: run.id, step: "start", message: `waiting for health: ${message}`, at: nowIso(run) }),
    ...(run.target.signal ? { signal: run.target.signal } : {}),
  });
  return `healthy after ${took.seconds()}${roles}`;
}

/**
 * From Docker's `healthy` on, Traefik routes new requests to green (its router outranks blue's).
 * With a Traefik API configured, wait until it lists green; otherwise wait out Traefik's 2 s
 * reload throttle (providers.providersThrottleDuration, https://doc.traefik.io/traefik/providers/overview/).
 * Green is watched meanwhile: if it fails, Traefik is back on blue.
 */
export async function confirm(run: Run): Promise<string> {
  if (!run.app.route) return "no route: nothing to switch";
  const id = mustGreen(run);
  const { engine } = run.deps;
  if (run.deps.traefik) {
    const info = await engine.inspect(id);
    if (!info) throw new AgentError("GREEN_EXITED", `the new release's container ${containerName(run.target.app, run.slot)} was removed from the Engine while the switch was confirmed`);
    const ip = containerIp(info, run.app.route.network);
    const url = `http://${ip}:${run.app.port}`;
    await run.deps.traefik.waitForServer(containerName(run.target.app, run.slot), url, {
      deadlineMs: Math.max(run.app.settle * 5, 15_000),
      check: () => checkRelease(run),
      ...(run.target.signal ? { signal: run.target.signal } : {}),
    });
    return `Traefik serves ${url}`;
  }
  await watchFor(run, run.app.settle);
  return `waited settle (${run.app.settle / 1000}s) for Traefik to switch; not confirmed, as traefik.api is not set`;
}

/** Blue gets no new requests now; let its in-flight ones finish while green keeps passing. */
export async function drain(run: Run): Promise<string> {
  if (!run.blue) return "no previous release to drain";
  if (!run.app.route) return "no route: nothing to drain";
  await watchFor(run, run.app.drain);
  return `gave the previous release ${run.app.drain / 1000}s to finish its requests`;
}

export async function stopBlue(run: Run): Promise<string> {
  if (!run.blue) return "no previous release to stop";
  const name = run.blue.name;
  try {
    // A blue whose labels do not name its digest (none of this agent's lack it) could not be recorded to go back to.
    if (run.app.watch > 0 && /^sha256:[a-f0-9]{64}$/.test(run.blue.labels[AGENT_LABELS.digest] ?? "")) {
      // Kept, stopped, for the watch after the switch: started again if green fails (watch.ts).
      await run.deps.engine.stop(run.target.app, run.blue.id, run.app.stopTimeout);
      run.keptBlue = true;
      return `stopped ${name}; kept for the watch of ${run.app.watch / 1000}s`;
    }
    await run.deps.engine.stopAndRemove(run.target.app, run.blue.id, run.app.stopTimeout);
  } catch (err) {
    // Green already serves; a blue that will not go is reported, and removed at the next reconcile.
    run.log.error({ err: toAgentError(err).message, container: name }, "could not stop or remove the previous release; the new release serves");
    return `the previous release ${name} could not be removed: ${toAgentError(err).message}`;
  }
  return `stopped and removed ${name}`;
}

/** Green (a Swarm app: its services) is live: the one promotion reconcile also uses. What could not be done is in the detail. */
export async function recordSuccess(run: Run): Promise<string> {
  const id = run.swarm ? undefined : mustGreen(run);
  const at = nowIso(run);
  const live = run.live ?? { deployId: run.id, version: run.target.version, digest: run.digest, imageId: run.imageId ?? "", slot: run.slot, generation: run.generation, since: at };
  const until = new Date(Date.parse(at) + run.app.watch).toISOString();
  const watch = run.keptBlue && run.blue && id ? watchRecord(run.blue, id, run.id, until) : undefined;
  const { keepTag, removed, problems } = await promote(run.deps, run.target.app, run.app, { containerId: id, live, indexDigest: run.indexDigest, at, ...(watch ? { watch } : {}) });
  const done = [keepTag ? `kept ${keepTag}` : "", removed.length > 0 ? `removed old keep-tags ${removed.join(", ")}` : ""].filter(Boolean);
  return [...done, ...problems].join("; ");
}

/** The container serving the app now: the slot the Engine showed running when the deploy began, if this agent made it. */
async function liveContainer(run: Run): Promise<ContainerDetail | undefined> {
  if (!run.blueSlot) return undefined;
  const info = await run.deps.engine.ownNamed(run.target.app, containerName(run.target.app, run.blueSlot));
  return info?.running ? info : undefined;
}

/** The IP of a container on `network`, or on its first network when none is named. */
function containerIp(info: ContainerDetail, network?: string): string | undefined {
  return network ? info.ips[network] : Object.values(info.ips)[0];
}

/** The env file as it is now: checked again at each deploy, since it may have changed since the start. */
export async function readEnvFile(app: string, path: string): Promise<Record<string, string>> {
  const key = `apps.${app}.envFile`;
  let text: string;
  try {
    const mode = (await stat(path)).mode;
    const loose = secretModeProblem(mode, "file");
    if (loose) throw new AgentError("CONFIG_INVALID", `${key}: ${path} is ${loose}`, { hint: `chmod 0600 ${path}` });
    text = await readFile(path, "utf8");
  } catch (err) {
    if (err instanceof AgentError) throw err;
    throw new AgentError("CONFIG_INVALID", `${key}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err });
  }
  const { env, problems } = parseEnvFile(text, path);
  if (problems.length > 0) throw new AgentError("CONFIG_INVALID", `${key}: ${problems.join("; ")}`);
  return env;
}
