// Traefik docker-provider labels for one slot of an app: one router per slot, newest wins by priority
// (docs/design.md#slots-and-router-priorities). Pure: config in, label map out.
import type { RouteConfig } from "../config/schema.js";
import { slotName } from "../labels.js";
import type { Slot } from "../state/schema.js";

/**
 * Router and service name of a slot: the container's name, so the Traefik API is asked about the
 * container the agent made. Distinct per slot so blue and green never share a router.
 */
export function routerName(app: string, slot: Slot): string {
  return slotName(app, slot);
}

/**
 * The labels that make Traefik route `route.rule` to this container once Docker says it is healthy
 * (https://doc.traefik.io/traefik/providers/docker/). The service is always explicit: an implicit one
 * would be named after the container. The priority grows with the generation so the newest healthy
 * container outranks the one it replaces (https://doc.traefik.io/traefik/routing/routers/#priority).
 */
export function traefikLabels(app: string, slot: Slot, generation: number, port: number, route: RouteConfig): Record<string, string> {
  const r = routerName(app, slot);
  const labels: Record<string, string> = {
    "traefik.enable": "true",
    "traefik.docker.network": route.network,
    [`traefik.http.routers.${r}.rule`]: route.rule,
    [`traefik.http.routers.${r}.entrypoints`]: route.entrypoints.join(","),
    [`traefik.http.routers.${r}.priority`]: String(route.priority + generation),
    [`traefik.http.routers.${r}.service`]: r,
    [`traefik.http.services.${r}.loadbalancer.server.port`]: String(port),
  };
  if (route.certresolver !== undefined) labels[`traefik.http.routers.${r}.tls.certresolver`] = route.certresolver;
  if (route.middlewares.length > 0) labels[`traefik.http.routers.${r}.middlewares`] = route.middlewares.join(",");
  return labels;
}
