// The Docker networks an app's containers and services join, from its config: the route's first.
import type { AppConfig } from "./schema.js";

/** The network a release is created on: the route's (Traefik reaches it there), else the first listed, else Docker's default. */
export function primaryNetwork(app: AppConfig): string | undefined {
  return app.route?.network ?? app.networks[0];
}

/** Every network a release joins, the primary first, without repeats. */
export function allNetworks(app: AppConfig): string[] {
  const nets = [primaryNetwork(app), ...app.networks].filter((n): n is string => n !== undefined);
  return [...new Set(nets)];
}
