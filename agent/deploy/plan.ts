// Pure planning: which slot green takes, and the exact create options for it.
// Config plus release in, the Engine's create body out; executed by deploy.ts.
import type { AppConfig } from "../config/schema.js";
import type { ContainerSpec, HealthConfig } from "../docker/engine.js";
import { AGENT_LABELS, slotName } from "../labels.js";
import type { Live, Slot } from "../state/schema.js";
import { traefikLabels } from "../traefik/labels.js";

export function otherSlot(slot: Slot): Slot {
  return slot === "blue" ? "green" : "blue";
}

/** Green takes the slot blue does not hold; the first deploy of an app takes blue. */
export function greenSlot(live: Pick<Live, "slot"> | undefined): Slot {
  return live ? otherSlot(live.slot) : "blue";
}

/** One of the app's own containers as the Engine lists it. */
export interface SlotHolder {
  slot: Slot;
  running: boolean;
  generation: number;
}

/**
 * Which slot green takes, from what the Engine says runs rather than from a state file that may be
 * stale: a running container holds its slot, and of two running ones the newer generation is the
 * one Traefik routes to (its router outranks), so that one is blue. Only when nothing runs does
 * the state's `live` decide, as at the first deploy.
 */
export function chooseSlots(live: Pick<Live, "slot"> | undefined, held: readonly SlotHolder[]): { green: Slot; blue?: Slot } {
  const running = held.filter((h) => h.running).sort((a, b) => b.generation - a.generation);
  const serving = running[0];
  if (!serving) return { green: greenSlot(live) };
  return { green: otherSlot(serving.slot), blue: serving.slot };
}

export function containerName(app: string, slot: Slot): string {
  return slotName(app, slot);
}

/** The network green is created on: the route's (Traefik reaches it there), else the first listed, else Docker's default. */
export function primaryNetwork(app: AppConfig): string | undefined {
  return app.route?.network ?? app.networks[0];
}

/** Every network the container joins, the primary first, without repeats. */
export function allNetworks(app: AppConfig): string[] {
  const nets = [primaryNetwork(app), ...app.networks].filter((n): n is string => n !== undefined);
  return [...new Set(nets)];
}

export interface GreenRelease {
  deployId: string;
  version: string;
  digest: string;
  /** The reference green is created from: repo@sha256:… (or the local image id). */
  imageRef: string;
}

/**
 * Create options for green. It starts with restart policy "no" so a crashing release cannot loop
 * while the agent judges it; the app's policy is applied once it serves (deploy.ts, record step).
 * No host port is ever published: two slots could not both bind it, and Traefik reaches the
 * container over its network. The Engine adds the image's own labels to these; docker/ refuses an
 * image whose labels could steer routing or pose as the agent's (traefik.*, deploy-agent.*), while
 * the rest (org.opencontainers.image.* and the like) are metadata nothing acts on and are harmless.
 */
export function greenCreateOptions(
  appName: string,
  app: AppConfig,
  slot: Slot,
  generation: number,
  release: GreenRelease,
  healthcheck: HealthConfig,
  fileEnv: Record<string, string> = {},
): ContainerSpec {
  const env = { ...fileEnv, ...app.env };
  const labels: Record<string, string> = {
    ...app.labels,
    ...(app.route ? traefikLabels(appName, slot, generation, app.port, app.route) : {}),
    [AGENT_LABELS.managed]: "true",
    [AGENT_LABELS.app]: appName,
    [AGENT_LABELS.slot]: slot,
    [AGENT_LABELS.generation]: String(generation),
    [AGENT_LABELS.version]: release.version,
    [AGENT_LABELS.digest]: release.digest,
    [AGENT_LABELS.deployId]: release.deployId,
  };
  const network = primaryNetwork(app);
  const opts: ContainerSpec = {
    name: containerName(appName, slot),
    Image: release.imageRef,
    Labels: labels,
    Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
    ExposedPorts: { [`${app.port}/tcp`]: {} },
    Healthcheck: healthcheck,
    StopTimeout: Math.ceil(app.stopTimeout / 1000),
    HostConfig: {
      Init: app.init,
      Binds: app.volumes,
      RestartPolicy: { Name: "no" },
      ...(network ? { NetworkMode: network } : {}),
    },
  };
  if (app.command) opts.Cmd = app.command;
  if (network) opts.NetworkingConfig = { EndpointsConfig: { [network]: {} } };
  return opts;
}
