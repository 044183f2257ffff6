// Pure planning: which slot green takes, and the exact create options for it.
// Config plus release in, the Engine's create body out; executed by deploy.ts.
import { envList } from "../config/env-map.js";
import { primaryNetwork } from "../config/networks.js";
import type { AppConfig } from "../config/schema.js";
import type { ContainerSpec, HealthConfig } from "../docker/engine.js";
import { AGENT_LABELS, releaseLabels, slotName } from "../labels.js";
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

export interface GreenRelease {
  deployId: string;
  version: string;
  digest: string;
  /** The reference green is created from: repo@sha256:… (or the local image id). */
  imageRef: string;
}

/** One container of a release as its create options differ: the rest is the release's (`releaseContainerOptions`). */
export interface ReleaseContainer {
  name: string;
  /** The container's own labels (its slot, router, role), over the app's `labels` and under the agent's release labels. */
  labels: Record<string, string>;
  healthcheck: HealthConfig;
  /** The command; absent, the image's. */
  cmd?: string[] | undefined;
  /** The variables over the env file; the app's `env` unless given. */
  env?: Record<string, string>;
  exposedPorts?: ContainerSpec["ExposedPorts"];
}

/**
 * What every container of a release shares (web's green, a role's, a release step's one-off): the
 * image by digest, the env file under the env, the volumes, the app's primary network, init, the
 * stop timeout, and restart policy "no" so a crashing release cannot loop while the agent judges
 * it (the app's policy is applied once it serves, promote.ts). Its labels name the app and the
 * release. No host port is ever published: two slots could not both bind it, and Traefik reaches
 * the container over its network. The Engine adds the image's own labels to these; docker/ refuses
 * an image whose labels could steer routing or pose as the agent's (traefik.*, deploy-agent.*),
 * while the rest (org.opencontainers.image.* and the like) are metadata nothing acts on.
 */
export function releaseContainerOptions(appName: string, app: AppConfig, release: GreenRelease, c: ReleaseContainer, fileEnv: Record<string, string> = {}): ContainerSpec {
  const network = primaryNetwork(app);
  const opts: ContainerSpec = {
    name: c.name,
    Image: release.imageRef,
    Labels: { ...app.labels, ...c.labels, ...releaseLabels(appName, release) },
    Env: envList(fileEnv, c.env ?? app.env),
    ExposedPorts: c.exposedPorts ?? {},
    Healthcheck: c.healthcheck,
    StopTimeout: Math.ceil(app.stopTimeout / 1000),
    HostConfig: {
      Init: app.init,
      Binds: app.volumes,
      RestartPolicy: { Name: "no" },
      ...(network ? { NetworkMode: network } : {}),
    },
  };
  if (c.cmd) opts.Cmd = c.cmd;
  if (network) opts.NetworkingConfig = { EndpointsConfig: { [network]: {} } };
  return opts;
}

/** The labels that put a container in a slot: its slot and generation (reconcile and routing read them). */
export function slotLabels(slot: Slot, generation: number): Record<string, string> {
  return { [AGENT_LABELS.slot]: slot, [AGENT_LABELS.generation]: String(generation) };
}

/** Create options for green: the release's container in its slot, with the app's port, router and command. */
export function greenCreateOptions(
  appName: string,
  app: AppConfig,
  slot: Slot,
  generation: number,
  release: GreenRelease,
  healthcheck: HealthConfig,
  fileEnv: Record<string, string> = {},
): ContainerSpec {
  const router = app.route ? traefikLabels(appName, slot, generation, app.port, app.route) : {};
  return releaseContainerOptions(
    appName,
    app,
    release,
    { name: containerName(appName, slot), labels: { ...router, ...slotLabels(slot, generation) }, healthcheck, cmd: app.command, exposedPorts: { [`${app.port}/tcp`]: {} } },
    fileEnv,
  );
}
