// What docker/ hands the rest of the agent: plain views of containers and images, and the create
// options deploy/plan.ts builds. Field names follow the Engine API (https://docs.docker.com/reference/api/engine/);
// no dockerode type leaves docker/.

/** A container health check; durations in nanoseconds, as the Engine takes them. */
export interface HealthConfig {
  Test: string[];
  Interval: number;
  Timeout: number;
  StartPeriod: number;
  Retries: number;
}

/** The part of the Engine's ContainerCreate body the agent uses. */
export interface ContainerSpec {
  name: string;
  Image: string;
  Labels: Record<string, string>;
  Env: string[];
  ExposedPorts: Record<string, Record<string, never>>;
  Healthcheck: HealthConfig;
  StopTimeout: number;
  Cmd?: string[];
  HostConfig: {
    Init: boolean;
    Binds: string[];
    RestartPolicy: { Name: string };
    NetworkMode?: string;
  };
  NetworkingConfig?: { EndpointsConfig: Record<string, Record<string, never>> };
}

export type Health = "healthy" | "unhealthy" | "starting" | "none";

/** A container as the Engine's list shows it. */
export interface ContainerSummary {
  id: string;
  name: string;
  labels: Record<string, string>;
  /** created, running, exited, … */
  state: string;
  health: Health;
}

/** A container as the Engine's inspect shows it. */
export interface ContainerDetail extends ContainerSummary {
  running: boolean;
  restarting: boolean;
  restartCount: number;
  exitCode: number;
  oomKilled: boolean;
  /** The image id it runs. */
  image: string;
  startedAt: string;
  /** IP address per network name. */
  ips: Record<string, string>;
  /** The last health check's exit code and output (cleaned), when Docker ran one. */
  lastCheck?: { exitCode: number; output: string };
  /** Health checks failed in a row (Docker's FailingStreak): above 0 on a container still healthy, it is failing. */
  failingStreak?: number;
}

export interface ImageView {
  id: string;
  repoDigests: string[];
  repoTags: string[];
  labels: Record<string, string>;
  /** The image's own HEALTHCHECK test, when it has one. */
  healthcheck?: string[];
}

/** What the agent knows of itself, to tell its own containers from everyone else's. */
export interface Owner {
  /** The id stored in the agent's state file; put on every container the agent creates. */
  readonly agentId: string;
  /**
   * For containers created before the owner label existed: true only if this agent's state file
   * recorded that deploy (id and digest) of that app, which proves the container is this agent's.
   */
  recordedDeploy(app: string, deployId: string, digest: string): boolean;
}

/** A container that holds a name the agent needs, or carries the app's labels, but is not the agent's. */
export interface Conflict {
  id: string;
  name: string;
  state: string;
  /** Why it is not the agent's. */
  reason: string;
}

/** The containers of one app on the Engine, as this agent sees them. */
export interface AppContainers {
  /** Created by this agent, web's only: no role label (probes, one-offs and roles excluded). */
  own: ContainerDetail[];
  /** The app's role containers (a worker): role label set to a role's name (docs/design.md#roles). */
  roles: ContainerDetail[];
  /** This agent's probe containers (created to look inside an image, never started). */
  probes: ContainerDetail[];
  /** This agent's release-step containers (role predeploy or postdeploy), left over by a deploy the agent stopped in. */
  oneOffs: ContainerDetail[];
  /** Containers holding one of the app's slot names that this agent did not create. */
  conflicts: Conflict[];
}
