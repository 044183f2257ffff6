// Pure planning for an app's roles (docs/design.md#roles): the create options of one role's
// container, built from web's so the two cannot drift in anything but what makes the role.
import type { AppConfig } from "../config/schema.js";
import { roleContainerName, type RoleConfig } from "../config/roles.js";
import type { ContainerSpec, HealthConfig } from "../docker/engine.js";
import { commandHealthcheck, NO_HEALTHCHECK } from "../docker/healthcheck.js";
import { AGENT_LABELS } from "../labels.js";
import type { Slot } from "../state/schema.js";
import { releaseContainerOptions, slotLabels, type GreenRelease } from "./plan.js";

/** The role's Docker health check: its command, timed as web's is; none without `health` (the image's own is switched off). */
export function roleHealthcheck(role: RoleConfig): HealthConfig {
  return role.health ? commandHealthcheck(role.health.command, role.health.interval, role.health.startTimeout) : NO_HEALTHCHECK;
}

/**
 * Create options for one role's new container: the release's (plan.ts), in web's slot and
 * generation, with the role's own name, command (else the app's), env merged over the app's,
 * health check, the role label, no port, and no router: `traefik.enable=false`, as Traefik's
 * docker provider exposes a container by default
 * (https://doc.traefik.io/traefik/providers/docker/#exposedbydefault). A worker joins web's
 * networks, the route's first: it reaches what web reaches, but no router points at it.
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
  const labels = { ...slotLabels(slot, generation), "traefik.enable": "false", [AGENT_LABELS.role]: roleName };
  const container = { name: roleContainerName(appName, roleName, slot), labels, healthcheck: roleHealthcheck(role), cmd: role.command ?? app.command, env: { ...app.env, ...role.env } };
  return releaseContainerOptions(appName, app, release, container, fileEnv);
}
