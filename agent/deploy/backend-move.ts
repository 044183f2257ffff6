// Moving an app from one backend to the other (docs/scale.md#moving-an-app-between-backends): once
// the new backend serves the app, what the old one left of it goes, late enough that Traefik has
// moved its requests. The agent's own containers and services only (docker/ checks the owner).
import type { AppConfig } from "../config/schema.js";
import type { ContainerDetail } from "../docker/engine.js";
import { isAgentError, toAgentError } from "../errors.js";
import { AGENT_LABELS } from "../labels.js";
import { sleep } from "../sleep.js";
import type { DeployDeps } from "./run.js";
import { serviceNames } from "./swarm-services.js";

/**
 * How long after a service runs Traefik may still not route to it: its Swarm provider lists the
 * services every 15 s (`providers.swarm.refreshSeconds`,
 * https://doc.traefik.io/traefik/providers/swarm/#refreshseconds), and each new configuration
 * then waits out the 2 s throttle (`providers.providersThrottleDuration`).
 */
export const SWARM_PROVIDER_LAG_MS = 17_000;

/** Web's and the roles' containers of the app that the container backend left: none once an app has always been a Swarm app. */
export async function containersLeft(deps: Pick<DeployDeps, "engine">, appName: string): Promise<ContainerDetail[]> {
  const found = await deps.engine.containers(appName);
  return [...found.own, ...found.roles];
}

/**
 * The container backend's containers of an app that now runs as Swarm services: stopped (each
 * gets its stopTimeout for the requests it holds) and removed, once Traefik's Swarm provider has
 * had the time to list the service. Until then Traefik's docker provider still sends to them.
 */
export async function removeContainersLeft(deps: Pick<DeployDeps, "engine">, appName: string, app: AppConfig, left: ContainerDetail[], signal?: AbortSignal): Promise<string> {
  await sleep(SWARM_PROVIDER_LAG_MS, signal);
  const done: string[] = [];
  for (const c of left) {
    await deps.engine.stopAndRemove(appName, c.id, app.stopTimeout);
    done.push(c.name);
  }
  return `the app moved to backend: swarm: stopped and removed ${done.join(", ")} ${SWARM_PROVIDER_LAG_MS / 1000}s after its services ran, once Traefik's Swarm provider had listed them`;
}

/**
 * The app's Swarm services, left by `backend: swarm` before the app moved to containers: removed
 * once its new container serves (its router outranks theirs, by generation). "" when there are
 * none, or the Engine is no Swarm manager. A service of that name that is not the agent's is left
 * alone. Never throws: the container serves whatever happens here.
 */
export async function removeServicesLeft(deps: Pick<DeployDeps, "swarm" | "log">, appName: string, app: AppConfig): Promise<string> {
  const swarm = deps.swarm;
  if (!swarm) return "";
  const removed: string[] = [];
  for (const name of serviceNames(appName, app)) {
    try {
      const found = await swarm.inspectService(name);
      // The agent's, and this app's: another app's role may have the same service name.
      if (found?.labels[AGENT_LABELS.app] !== appName) continue;
      await swarm.removeService(name);
      removed.push(name);
    } catch (err) {
      if (!isAgentError(err, "SERVICE_CONFLICT")) deps.log.error({ app: appName, service: name, err: toAgentError(err).message }, "could not remove the app's Swarm service left from backend: swarm");
    }
  }
  return removed.length > 0 ? `; the app moved to backend: container: removed its Swarm service ${removed.join(", ")}` : "";
}
