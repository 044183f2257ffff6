// Traefik labels, pure: config in, label map out. For a container app, one router per slot read by
// the docker provider, newest wins by priority (docs/design.md#slots-and-router-priorities); for a
// Swarm app, one router on the service, read by the Swarm provider (docs/design.md#swarm-services).
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
 * The router `name` for `route.rule`, with a service of the same name on `port`. The service is
 * always explicit: an implicit one would be named after the container (or the Swarm service).
 */
function routerLabels(name: string, port: number, route: RouteConfig, priority: number): Record<string, string> {
  const labels: Record<string, string> = {
    [`traefik.http.routers.${name}.rule`]: route.rule,
    [`traefik.http.routers.${name}.entrypoints`]: route.entrypoints.join(","),
    [`traefik.http.routers.${name}.priority`]: String(priority),
    [`traefik.http.routers.${name}.service`]: name,
    [`traefik.http.services.${name}.loadbalancer.server.port`]: String(port),
  };
  if (route.certresolver !== undefined) labels[`traefik.http.routers.${name}.tls.certresolver`] = route.certresolver;
  if (route.middlewares.length > 0) labels[`traefik.http.routers.${name}.middlewares`] = route.middlewares.join(",");
  return labels;
}

/**
 * The labels that make Traefik route `route.rule` to this container once Docker says it is healthy
 * (https://doc.traefik.io/traefik/providers/docker/). The priority grows with the generation so the
 * newest healthy container outranks the one it replaces (https://doc.traefik.io/traefik/routing/routers/#priority).
 */
export function traefikLabels(app: string, slot: Slot, generation: number, port: number, route: RouteConfig): Record<string, string> {
  return {
    "traefik.enable": "true",
    "traefik.docker.network": route.network,
    ...routerLabels(routerName(app, slot), port, route, route.priority + generation),
  };
}

/**
 * The labels of a Swarm app's web service, read by Traefik's Swarm provider from the service, not
 * its containers (https://doc.traefik.io/traefik/providers/swarm/): one router and one service named
 * after the app, and `lbswarm`, so Traefik sends to the service's virtual IP, which Swarm keeps on
 * the healthy tasks at once, instead of to the task list it refreshes every 15 s. The `traefik.docker.`
 * spelling is the one Traefik v2.11 and every v3 read (v3.3 and later also read `traefik.swarm.`,
 * and log that this one is deprecated). The generation keeps the rule of `route.priority` true here
 * too, and lets the first service outrank the router a container release of the app may have left.
 */
export function swarmTraefikLabels(app: string, generation: number, port: number, route: RouteConfig): Record<string, string> {
  return {
    "traefik.enable": "true",
    "traefik.docker.network": route.network,
    "traefik.docker.lbswarm": "true",
    ...routerLabels(app, port, route, route.priority + generation),
  };
}
