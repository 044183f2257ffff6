// What the daemon offers its control socket: the verbs agentctl calls, as one interface.
// control/server.ts exposes an AgentApi over HTTP on a Unix socket; deploy/ implements it.
import type { ErrorRecord, DeployRecord, HookRuns, Live, Pin, Release, SkipEntry, StepName, Trigger } from "../state/schema.js";
import type { TargetResult } from "../notify/event.js";

export type { DeployRecord, StepName, Trigger } from "../state/schema.js";

/** Streamed to `agentctl deploy|rollback` while a deploy runs, one JSON line each. */
export type DeployEvent =
  | { type: "started"; app: string; deployId: string; trigger: Trigger; version: string; at: string }
  | { type: "step"; app: string; deployId: string; step: StepName; phase: "start" | "end"; at: string; detail?: string }
  | { type: "progress"; app: string; deployId: string; step: StepName; message: string; at: string };

export interface DeployOutcome {
  deployId: string;
  app: string;
  outcome: "succeeded" | "failed" | "aborted" | "unchanged";
  version: string;
  digest?: string;
  slot?: "blue" | "green";
  generation?: number;
  error?: ErrorRecord;
  /** The release steps that ran (predeploy, postdeploy): exit code and last output lines. */
  hooks?: HookRuns;
}

/** A routed app's network as `status` saw it: whether a Traefik shares it, and whether switches are confirmed. */
export interface AppRouting {
  network: string;
  /** False until the first deploy creates it; absent when the look failed (see `lookError`). */
  networkExists?: boolean;
  /** Names of the running containers on the network that look like Traefik (a heuristic); absent when the look failed. */
  traefik?: string[];
  /** Why the look for Traefik failed (the Engine did not answer or refused it): then nothing is known of the network. */
  lookError?: string;
  /** True when `traefik.api` is set, so each switch is confirmed with Traefik; otherwise the agent waits `settle`. */
  confirmed: boolean;
  settleMs: number;
}

export interface Retrying {
  failures: number;
  lastError: ErrorRecord;
  lastAt: string;
  /** The digest held off after its deploy failed; absent when the registry itself failed. */
  digest?: string;
  /** When polling tries again by itself: the end of the backoff, or the next scheduled poll if later. */
  nextTryAt?: string;
  /** Milliseconds from the report to `nextTryAt`. */
  nextTryInMs?: number;
}

/** A live container (web's, or a role's) not serving by itself between deploys: how, since when, and in words. */
export interface LiveProblemView {
  condition: "exited" | "restarting" | "unhealthy";
  since: string;
  exitCode?: number;
  words: string;
}

/** One task of a Swarm app's service as `status` shows it: one that is to run, or still shutting down. */
export interface TaskStatusView {
  /** The replica's number; absent on a task of a global service. */
  slot?: number;
  /** Where the task is: pending, preparing, starting, running, … */
  state: string;
  /** What Swarm wants of it: running, or shutdown for one still stopping. */
  desiredState: string;
  /** The manifest digest of the image it runs. */
  digest?: string;
  /** The id of the node it was placed on; absent while it waits for one. */
  node?: string;
  /** That node's hostname, when the swarm's node list answered. */
  nodeName?: string;
  error?: string;
}

/** One service of a Swarm app (docs/design.md#swarm-services): web's, named after the app, or a role's. */
export interface ServiceStatusView {
  name: string;
  /** Absent on web's service. */
  role?: string;
  /** False when the service is missing: the agent makes it again from the live release at its next start. */
  exists: boolean;
  /** The manifest digest of the image the service's spec names. */
  digest?: string;
  /** How many tasks the spec asks for. */
  replicas?: number;
  /** Swarm's `UpdateStatus`; absent on a service never updated. */
  update?: { state: string; message: string };
  tasks: TaskStatusView[];
  /** Why the service could not be read: one of that name the agent did not create, or an Engine that is not a manager. */
  error?: string;
}

export interface AppStatus {
  app: string;
  image: string;
  /** The tag or semver range from the config. */
  track: string;
  /** The tag a semver range resolved to at the last poll. */
  resolvedTag?: string;
  schedule: string;
  live?: Live;
  pin?: Pin;
  /** True when polling is paused for this app (pinned). */
  paused: boolean;
  releases: Release[];
  skip: SkipEntry[];
  /** The deploy running now, with its current step. */
  running?: { deployId: string; step: StepName; version: string; trigger: Trigger; startedAt: string };
  lastPoll?: { at: string; digest?: string; error?: ErrorRecord };
  /**
   * Present while polls or deploys of the app fail for a passing reason (registry, network, Engine,
   * disk): how many in a row, the last error, and when polling tries again by itself.
   */
  retrying?: Retrying;
  nextPoll?: string;
  /** What the engine shows: the containers of this app and which one serves. */
  containers: { name: string; slot: string; state: string; health: string; digest?: string; generation?: number }[];
  /**
   * The app's role containers (a worker, docs/design.md#roles), in the same shape with the role's
   * name; absent without any. `liveProblem` on a role's live container that stopped serving by itself.
   */
  roles?: { role: string; name: string; slot: string; state: string; health: string; digest?: string; generation?: number; liveProblem?: LiveProblemView }[];
  /** A `backend: swarm` app's services and their tasks; absent for a container app, and when the Engine did not answer. */
  services?: ServiceStatusView[];
  /** How the app runs: blue and green containers, or Swarm services (no slot). */
  backend?: "container" | "swarm";
  /** Containers holding one of the app's slot names that this agent did not create: it leaves them alone and cannot deploy until they go. */
  conflicts?: { name: string; id: string; state: string; reason: string }[];
  /** Only for an app with a route, and left out when the Engine did not answer. */
  routing?: AppRouting;
  /** What a person should know, in words: e.g. no Traefik on the route's network. */
  warnings?: string[];
  /** The live release's web container stopped serving by itself between deploys (exited, restarting, unhealthy), since when, and in words. */
  liveProblem?: LiveProblemView;
  /** Set for `mode: notify`: polling records new releases as available and deploys nothing. */
  mode?: "notify";
  /** A notify-mode app's release found by polling, not deployed: `agentctl deploy <app>` deploys it. */
  available?: { version: string; digest: string; since: string };
  /** The digest the last poll found, held back by a closed window or minAge, and when polling deploys it by itself. */
  waiting?: { gate: "window" | "minAge"; version: string; digest: string; until: string; minAgeMs?: number };
  /** The watch after the last switch is open: the previous release is kept, stopped, until `until`, and started again if the new one fails. */
  watch?: { deployId: string; until: string; previous: string };
}

/**
 * The daemon process's own resources when `status` answered, so that a leak shows from outside
 * (`npm run bench:soak` reads them every minute). Sizes in bytes; Linux figures from /proc/self.
 */
export interface DaemonStats {
  rssBytes: number;
  /** RssAnon: the process's private memory, without the node executable's shared pages. Absent without /proc. */
  rssAnonBytes?: number;
  heapUsedBytes: number;
  /** V8 heap reserved from the system (used or not): RssAnon beyond this and `externalBytes` is the C allocator's. */
  heapTotalBytes: number;
  /** Memory of C++ objects bound to JS objects (Buffers, zlib and HTTP parser state), `arrayBuffersBytes` included. */
  externalBytes: number;
  /** Buffers and ArrayBuffers: socket reads, response bodies, pull progress. */
  arrayBuffersBytes: number;
  /** Open file descriptors. Absent without /proc. */
  fds?: number;
  /** Active timers (Node's `process.getActiveResourcesInfo()`), the status request's own included. */
  timers: number;
  /** Engine streams open: event watches (a health wait's) and pulls. */
  engineStreams: number;
}

export interface StatusReport {
  version: string;
  pid: number;
  startedAt: string;
  /** Left out by a daemon that does not report it. */
  daemon?: DaemonStats;
  apps: AppStatus[];
  /** Set when the Engine did not answer: the containers shown are then empty, not absent. */
  engineError?: ErrorRecord;
  /** Set while the state file could not be written (disk full, read-only): the state is kept in memory. */
  stateWrite?: { since: string; message: string };
}

export interface CheckResult {
  app: string;
  /** What the poll decided. */
  result: "deployed" | "unchanged" | "skipped" | "paused" | "failed" | "busy" | "available" | "waiting";
  digest?: string;
  detail: string;
  deploy?: DeployOutcome;
}

/** One line of a container's output, streamed to `agentctl logs`; `time` is the Engine's RFC 3339 timestamp. */
export interface LogLine {
  stream: "stdout" | "stderr";
  time?: string;
  line: string;
}

/** What `agentctl logs` ends with: whose output it was, and how many lines came. */
export interface LogsResult {
  app: string;
  container: string;
  lines: number;
}

export interface AgentApi {
  /** Deploy `version` (a tag) of `app`, or the tracked tag when absent. With a version, the app is pinned. */
  deploy(req: { app?: string; version?: string }, onEvent: (e: DeployEvent) => void): Promise<DeployOutcome>;
  /** Deploy the previous successful release (or the one whose version/digest is `to`), then pin the app to it; the release left is skipped by polling. */
  rollback(req: { app?: string; to?: string }, onEvent: (e: DeployEvent) => void): Promise<DeployOutcome>;
  status(req: { app?: string }): Promise<StatusReport>;
  history(req: { app?: string; limit?: number }): Promise<DeployRecord[]>;
  /** Unpin (after a deploy of a version or a rollback): polling resumes for the app; skipped digests stay skipped. */
  resume(req: { app?: string }): Promise<{ app: string; wasPinned: boolean }>;
  /** `agentctl notify test`: a test event to every notify target, and each target's result (empty when none is configured). */
  notify(req: { action: "test" }): Promise<TargetResult[]>;
  /**
   * Streams the live release's output (web's container, or `role`'s) until it ends: at once without
   * `follow`, when the container stops with it, or when `signal` aborts (the client went away).
   */
  logs(req: { app?: string; role?: string; follow?: boolean; sinceMs?: number; tail?: number }, onLine: (l: LogLine) => void, signal?: AbortSignal): Promise<LogsResult>;
  /** Poll now (all apps, or one), deploying what changed, as a scheduled poll would. */
  check(req: { app?: string }, onEvent: (e: DeployEvent) => void): Promise<CheckResult[]>;
}
