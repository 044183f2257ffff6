// Pure planning for a `backend: swarm` app (docs/design.md#swarm-services): the ServiceSpec of web
// and of each role, built on what every service of the release shares (docker/service-spec.ts),
// as plan.ts and role-plan.ts build a release's containers.
import { ROLE_RUNNING_MS, type RoleConfig } from "../config/roles.js";
import type { AppConfig } from "../config/schema.js";
import { HEALTH_RETRIES } from "../docker/healthcheck.js";
import { serviceSpec, type ServiceRelease, type ServiceSpec } from "../docker/service-spec.js";
import type { HealthConfig } from "../docker/types.js";
import { AGENT_LABELS, serviceName } from "../labels.js";
import { swarmTraefikLabels } from "../traefik/labels.js";
import { roleHealthcheck } from "./role-plan.js";

/**
 * The update's monitor period for a service checked every `interval` that may take `startTimeout`
 * to start. A task that fails before it turns healthy counts as the update's failure whatever the
 * monitor; the monitor is how long after turning healthy its failure still rolls the service back,
 * and how long Swarm keeps watching after the last task before it calls the update completed
 * (swarmkit manager/orchestrator/update/updater.go). It gives a new release as long again as it
 * was allowed for its start, for an app that passes its first checks and then falls over, plus
 * the failed probes in a row Docker needs to call a healthy task unhealthy.
 */
export function monitorMs(health: { startTimeout: number; interval: number }): number {
  return health.startTimeout + HEALTH_RETRIES * health.interval;
}

/** Web's service: named after the app, `replicas` tasks, start first, with the router when the app has a route. */
export function webServiceSpec(appName: string, app: AppConfig, release: ServiceRelease, healthcheck: HealthConfig, fileEnv: Record<string, string> = {}): ServiceSpec {
  const labels = app.route ? swarmTraefikLabels(appName, release.generation, app.port, app.route) : {};
  return serviceSpec(
    appName,
    app,
    release,
    { name: serviceName(appName), labels, healthcheck, args: app.command, env: app.env, replicas: app.replicas, order: "start-first", monitorMs: monitorMs(app.health) },
    fileEnv,
  );
}

/**
 * A role's service: `<app>-<role>`, with the role label and `traefik.enable=false` (Traefik's Swarm
 * provider exposes a service by default), the role's command (else the app's), its env over the
 * app's, and its health check (none without `health`: the image's own is switched off, and the
 * monitor is the 10 s a role container must run to count). A role with `overlap: false` is a
 * singleton: one task, updated stop first, so two never run at once.
 */
export function roleServiceSpec(
  appName: string,
  app: AppConfig,
  roleName: string,
  role: RoleConfig,
  release: ServiceRelease,
  fileEnv: Record<string, string> = {},
): ServiceSpec {
  return serviceSpec(
    appName,
    app,
    release,
    {
      name: serviceName(appName, roleName),
      labels: { "traefik.enable": "false", [AGENT_LABELS.role]: roleName },
      healthcheck: roleHealthcheck(role),
      args: role.command ?? app.command,
      env: { ...app.env, ...role.env },
      replicas: role.overlap ? app.replicas : 1,
      order: role.overlap ? "start-first" : "stop-first",
      monitorMs: role.health ? monitorMs(role.health) : ROLE_RUNNING_MS,
    },
    fileEnv,
  );
}
