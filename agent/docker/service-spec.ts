// The Engine's ServiceSpec for one service of a `backend: swarm` app, as plain data (pure): the body
// of ServiceCreate and ServiceUpdate (https://docs.docker.com/reference/api/engine/version/v1.43/#tag/Service/operation/ServiceCreate).
// What every service of an app's release shares is built here; deploy/service-plan.ts adds web's and a role's own.
import { envList } from "../config/env-map.js";
import { allNetworks } from "../config/networks.js";
import type { AppConfig } from "../config/schema.js";
import { parseVolume } from "../config/volumes.js";
import { AGENT_LABELS, releaseLabels } from "../labels.js";
import { NS_PER_MS } from "./healthcheck.js";
import type { HealthConfig } from "./types.js";

/** A mount of the task's container (the Engine's Mount object); `ro` and `rw` are the only options config/swarm.ts lets through. */
export interface ServiceMount {
  Type: "bind" | "volume";
  /** A host path (bind) or a volume's name; absent for an anonymous volume. */
  Source?: string;
  Target: string;
  ReadOnly: boolean;
}

/** How Swarm moves the service's tasks to a new spec (UpdateConfig) or back to the previous one (RollbackConfig). */
export interface ServiceUpdateConfig {
  Parallelism: number;
  /** Between one task's update and the next, in ns. */
  Delay: number;
  FailureAction: "continue" | "pause" | "rollback";
  /** How long after a new task runs its failure still counts as the update's, in ns. */
  Monitor: number;
  MaxFailureRatio: number;
  Order: "stop-first" | "start-first";
}

/** The part of the Engine's ServiceSpec the agent sets; durations in nanoseconds. */
export interface ServiceSpec {
  Name: string;
  /** The service's labels: where Traefik's Swarm provider reads its routing, and the agent its ownership. */
  Labels: Record<string, string>;
  TaskTemplate: {
    ContainerSpec: {
      /** `repo@sha256:…`, so every node runs exactly the release. */
      Image: string;
      /** Each task's container's labels. */
      Labels: Record<string, string>;
      /** Replaces the image's CMD, as a container's `Cmd` does (`Command` would replace its ENTRYPOINT). */
      Args?: string[];
      Env: string[];
      Init: boolean;
      StopGracePeriod: number;
      HealthCheck: HealthConfig;
      Mounts: ServiceMount[];
    };
    Placement: { Constraints: string[] };
    Networks: { Target: string }[];
    /** Swarm replaces the tasks when this changes, even if nothing else in the template did: the release's generation. */
    ForceUpdate: number;
  };
  Mode: { Replicated: { Replicas: number } };
  UpdateConfig: ServiceUpdateConfig;
  RollbackConfig: ServiceUpdateConfig;
  EndpointSpec: { Mode: "vip" };
}

/** The release a service is set to. Its image is the app's `image` at `digest`: never a local image id, which other nodes do not have. */
export interface ServiceRelease {
  deployId: string;
  version: string;
  digest: string;
  generation: number;
}

/** One service of the app as it differs from the others (web's, a role's): the rest is the app's. */
export interface ServiceRole {
  name: string;
  /** The service's own labels (Traefik's, the role label), over the app's `labels` and under the agent's release labels. */
  labels: Record<string, string>;
  healthcheck: HealthConfig;
  /** The command; absent, the image's. */
  args?: string[] | undefined;
  /** The variables over the env file. */
  env: Record<string, string>;
  replicas: number;
  /** start-first: a new task runs beside the old one until it is healthy; stop-first: the old one stops first. */
  order: ServiceUpdateConfig["Order"];
  monitorMs: number;
}

/**
 * The service of one role of an app's release (docs/design.md#swarm-services). Every service of the
 * release shares: the image by digest, the env file under the env, the mounts of `volumes`, the
 * route's network and `networks`, init, `stopTimeout` as the stop grace period, `placement`, and
 * the update and rollback configs. An update moves one task at a time, start first, and any task
 * that fails rolls the service back (MaxFailureRatio 0); a rollback moves the same way and pauses
 * if it fails too, as Swarm never rolls back a rollback. No port is published: Traefik reaches the
 * tasks over the network, at the service's virtual IP. The agent's owner label is added where the
 * service is created, as for containers. The tasks' containers carry the app's `labels` and
 * `traefik.enable=false`, never the agent's labels: Swarm owns them, so the container backend must
 * never take one for a slot of its own, and a Traefik docker provider on the same Engine must not
 * route to one (it exposes a container by default).
 */
export function serviceSpec(appName: string, app: AppConfig, release: ServiceRelease, role: ServiceRole, fileEnv: Record<string, string> = {}): ServiceSpec {
  const update = (failureAction: ServiceUpdateConfig["FailureAction"]): ServiceUpdateConfig => ({
    Parallelism: 1,
    Delay: 0,
    FailureAction: failureAction,
    Monitor: role.monitorMs * NS_PER_MS,
    MaxFailureRatio: 0,
    Order: role.order,
  });
  return {
    Name: role.name,
    Labels: { ...app.labels, ...role.labels, ...releaseLabels(appName, release), [AGENT_LABELS.generation]: String(release.generation) },
    TaskTemplate: {
      ContainerSpec: {
        Image: `${app.image}@${release.digest}`,
        Labels: { ...app.labels, "traefik.enable": "false" },
        ...(role.args ? { Args: role.args } : {}),
        Env: envList(fileEnv, role.env),
        Init: app.init,
        StopGracePeriod: app.stopTimeout * NS_PER_MS,
        HealthCheck: role.healthcheck,
        Mounts: app.volumes.map(serviceMount),
      },
      Placement: { Constraints: app.placement },
      Networks: allNetworks(app).map((Target) => ({ Target })),
      // Each deploy replaces the tasks, as each deploy of a container app starts a new container:
      // a deploy whose template is the same as the live one's (a service put back after a person
      // changed it, the same digest deployed again) would otherwise change only the service's
      // labels, and Swarm would start no update for the agent to follow.
      ForceUpdate: release.generation,
    },
    Mode: { Replicated: { Replicas: role.replicas } },
    UpdateConfig: update("rollback"),
    RollbackConfig: update("pause"),
    // Traefik's lbswarm sends to the virtual IP; in dnsrr mode there is none (it falls back to the tasks).
    EndpointSpec: { Mode: "vip" },
  };
}

/** A `volumes` entry as a service mount: `/src:/dst` a bind, `name:/dst` a named volume, `/dst` an anonymous one. */
export function serviceMount(spec: string): ServiceMount {
  const v = parseVolume(spec);
  return {
    Type: v.bind ? "bind" : "volume",
    ...(v.source !== undefined ? { Source: v.source } : {}),
    Target: v.target,
    ReadOnly: v.options.includes("ro"),
  };
}
