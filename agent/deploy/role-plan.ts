// Pure planning for an app's roles (docs/design.md#roles): the create options of one role's
// container, built from web's so the two cannot drift in anything but what makes the role.
import type { AppConfig } from "../config/schema.js";
import { roleContainerName, type RoleConfig } from "../config/roles.js";
import type { ContainerSpec, HealthConfig } from "../docker/engine.js";
import { commandHealthcheck, NO_HEALTHCHECK } from "../docker/healthcheck.js";
import { AGENT_LABELS } from "../labels.js";
import type { Slot } from "../state/schema.js";
import { greenCreateOptions, primaryNetwork, type GreenRelease } from "./plan.js";

/** The role's Docker health check: its command, timed as web's is; none without `health` (the image's own is switched off). */
export function roleHealthcheck(role: RoleConfig): HealthConfig {
  return role.health ? commandHealthcheck(role.health.command, role.health.interval, role.health.startTimeout) : NO_HEALTHCHECK;
}

/**
 * Create options for one role's new container: web's (image by digest, env file, env, volumes,
 * networks, init, restart "no" until it serves, labels naming app, slot, generation, release and
 * deploy) with the role's own name, command, env merged over the app's, health check, the role
 * label, no port, and no router: `traefik.enable=false`, as Traefik's docker provider exposes a
 * container by default (https://doc.traefik.io/traefik/providers/docker/#exposedbydefault).
 */
export function roleCreateOptions(
  appName: string,
  app: AppConfig,
  roleName: string,
  role: RoleConfig,
  slot: Slot,
  generation: number,
  release: GreenRelease,
  fileEnv: Record<string, string> = {},
): ContainerSpec {
  const web = greenCreateOptions(appName, { ...app, route: undefined, env: { ...app.env, ...role.env } }, slot, generation, release, roleHealthcheck(role), fileEnv);
  const opts: ContainerSpec = {
    ...web,
    name: roleContainerName(appName, roleName, slot),
    Labels: { ...web.Labels, "traefik.enable": "false", [AGENT_LABELS.role]: roleName },
    ExposedPorts: {},
  };
  // Web's networks, the route's first: a worker reaches what web reaches, but no router points at it.
  const network = primaryNetwork(app);
  if (network) {
    opts.HostConfig = { ...web.HostConfig, NetworkMode: network };
    opts.NetworkingConfig = { EndpointsConfig: { [network]: {} } };
  }
  const command = role.command ?? app.command;
  if (command) opts.Cmd = command;
  else delete opts.Cmd;
  return opts;
}
