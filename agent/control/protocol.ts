// The control socket's wire format: HTTP/1.1 on a Unix socket, `POST /v1/<verb>` with a JSON body.
// Streaming verbs answer 200 application/x-ndjson: `{"event":…}` lines, then one `{"result":…}` or `{"error":…}` line.
// Plain verbs answer `{"result":…}`, or `{"error":…}` with a 4xx/5xx status. Shared by control/server.ts and cli/.
import { z } from "zod";
import { ERROR_CODES, type ErrorCode } from "../errors.js";
import { APP_NAME_RE } from "../config/schema.js";
import { DeployRecord, ErrorRecord, HookRuns, Live, Pin, Release, SkipEntry, Slot, StepName, Trigger } from "../state/schema.js";
import type * as Api from "./api.js";

/** Every request path starts with this; a breaking change to any verb gets a new prefix. */
export const API_PREFIX = "/v1";
export const NDJSON_CONTENT_TYPE = "application/x-ndjson";
export const JSON_CONTENT_TYPE = "application/json";
/** Request bodies are a handful of short strings; anything larger is a mistake or an attack. */
export const MAX_REQUEST_BYTES = 64 * 1024;

export const STREAMING_VERBS = ["deploy", "rollback", "check", "logs"] as const;
export const PLAIN_VERBS = ["status", "history", "resume", "notify"] as const;
export const VERBS = [...STREAMING_VERBS, ...PLAIN_VERBS] as const;
export type StreamingVerb = (typeof STREAMING_VERBS)[number];
export type PlainVerb = (typeof PLAIN_VERBS)[number];
export type Verb = (typeof VERBS)[number];

export function isVerb(s: string): s is Verb {
  return (VERBS as readonly string[]).includes(s);
}
export function isStreamingVerb(v: Verb): v is StreamingVerb {
  return (STREAMING_VERBS as readonly string[]).includes(v);
}
export function verbPath(verb: Verb): string {
  return `${API_PREFIX}/${verb}`;
}

/** The OCI distribution spec's tag grammar (distribution-spec "Pulling manifests"). */
export const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
export const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

const TAG_OR_DIGEST = 'a tag such as "v1.2.0" (letters, digits, "_", "." and "-", at most 128, not starting with "." or "-") or a digest "sha256:" followed by 64 lowercase hex digits';

/** An app name as in agent.yaml's `apps` keys. */
export const AppName = z.string().regex(APP_NAME_RE, "expected an app name (lowercase letters, digits and -, as in agent.yaml)");
/** A tag or a manifest digest; which one is decided by the daemon. */
export const VersionRef = z.string().refine((s) => TAG_RE.test(s) || DIGEST_RE.test(s), `expected ${TAG_OR_DIGEST}`);

/** `POST /v1/deploy`. A lone `version` may name an app instead; the daemon decides (agentctl help deploy). */
export const DeployRequest = z.object({ app: AppName.optional(), version: VersionRef.optional() }).strict();
export type DeployRequest = z.infer<typeof DeployRequest>;
/** `POST /v1/rollback`: to the previous release, or to the release whose version or digest is `to`. */
export const RollbackRequest = z.object({ app: AppName.optional(), to: VersionRef.optional() }).strict();
export type RollbackRequest = z.infer<typeof RollbackRequest>;
/** `POST /v1/check`: poll now, all apps or one. */
export const CheckRequest = z.object({ app: AppName.optional() }).strict();
export type CheckRequest = z.infer<typeof CheckRequest>;
/** `POST /v1/status`. */
export const StatusRequest = z.object({ app: AppName.optional() }).strict();
export type StatusRequest = z.infer<typeof StatusRequest>;
/** `POST /v1/history`: newest first, at most `limit` records. */
export const HistoryRequest = z
  .object({ app: AppName.optional(), limit: z.number().int("expected a positive integer").positive("expected a positive integer").optional() })
  .strict();
export type HistoryRequest = z.infer<typeof HistoryRequest>;
/** `POST /v1/resume`: unpin, so polling resumes. */
export const ResumeRequest = z.object({ app: AppName.optional() }).strict();
export type ResumeRequest = z.infer<typeof ResumeRequest>;

/** `POST /v1/notify`: `test` sends a test event to every notify target and answers with each result. */
export const NotifyRequest = z.object({ action: z.literal("test", { error: 'expected "test"' }) }).strict();
export type NotifyRequest = z.infer<typeof NotifyRequest>;

/** `POST /v1/logs`: the live release's output, web's or a role's; `sinceMs` keeps the lines of the last so many ms, `tail` the last N. */
export const LogsRequest = z
  .object({
    app: AppName.optional(),
    role: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, "expected a role name as in agent.yaml's roles (lowercase letters, digits and -)").optional(),
    follow: z.boolean().optional(),
    sinceMs: z.number().int("expected a positive number of milliseconds").positive("expected a positive number of milliseconds").optional(),
    tail: z.number().int("expected a positive integer").positive("expected a positive integer").optional(),
  })
  .strict();
export type LogsRequest = z.infer<typeof LogsRequest>;

/** The error body of both kinds of verb; `code` is an ErrorCode, kept a string so a newer daemon's code still parses. */
export const WireError = z.object({ code: z.string().min(1), message: z.string(), hint: z.string().optional() });
export type WireError = z.infer<typeof WireError>;

/** A code from the wire as an ErrorCode; one this client does not know counts as INTERNAL. */
export function knownCode(code: string): ErrorCode {
  return (ERROR_CODES as readonly string[]).includes(code) ? (code as ErrorCode) : "INTERNAL";
}

/** See DeployEvent in control/api.ts. */
export const DeployEvent = z.discriminatedUnion("type", [
  z.object({ type: z.literal("started"), app: z.string(), deployId: z.string(), trigger: Trigger, version: z.string(), at: z.string() }),
  z.object({
    type: z.literal("step"),
    app: z.string(),
    deployId: z.string(),
    step: StepName,
    phase: z.enum(["start", "end"]),
    at: z.string(),
    detail: z.string().optional(),
  }),
  z.object({ type: z.literal("progress"), app: z.string(), deployId: z.string(), step: StepName, message: z.string(), at: z.string() }),
]);
export type DeployEvent = z.infer<typeof DeployEvent>;

/** See LogLine in control/api.ts: the events of `logs`. */
export const LogLine = z.object({ stream: z.enum(["stdout", "stderr"]), time: z.string().optional(), line: z.string() });
export type LogLine = z.infer<typeof LogLine>;
export const LogsResult = z.object({ app: z.string(), container: z.string(), lines: z.number().int() });
export type LogsResult = z.infer<typeof LogsResult>;

/** What a streaming verb's `{"event": …}` lines hold. */
export const EVENT_SCHEMAS = { deploy: DeployEvent, rollback: DeployEvent, check: DeployEvent, logs: LogLine } as const satisfies Record<StreamingVerb, z.ZodType>;

export const DeployOutcome = z.object({
  deployId: z.string(),
  app: z.string(),
  outcome: z.enum(["succeeded", "failed", "aborted", "unchanged"]),
  version: z.string(),
  digest: z.string().optional(),
  slot: Slot.optional(),
  generation: z.number().int().optional(),
  error: ErrorRecord.optional(),
  hooks: HookRuns.optional(),
});
export type DeployOutcome = z.infer<typeof DeployOutcome>;

export const CheckResult = z.object({
  app: z.string(),
  result: z.enum(["deployed", "unchanged", "skipped", "paused", "failed", "busy", "available", "waiting"]),
  digest: z.string().optional(),
  detail: z.string(),
  deploy: DeployOutcome.optional(),
});
export type CheckResult = z.infer<typeof CheckResult>;


/** One container as `status` shows it. */
const ContainerView = z.object({
  name: z.string(),
  slot: z.string(),
  state: z.string(),
  health: z.string(),
  digest: z.string().optional(),
  generation: z.number().optional(),
});
/** See ServiceStatusView in control/api.ts: one service of a Swarm app, with its tasks that run or still stop. */
const ServiceStatusView = z.object({
  name: z.string(),
  role: z.string().optional(),
  exists: z.boolean(),
  digest: z.string().optional(),
  replicas: z.number().int().optional(),
  update: z.object({ state: z.string(), message: z.string() }).optional(),
  tasks: z.array(
    z.object({
      slot: z.number().int().optional(),
      state: z.string(),
      desiredState: z.string(),
      digest: z.string().optional(),
      node: z.string().optional(),
      nodeName: z.string().optional(),
      error: z.string().optional(),
    }),
  ),
  error: z.string().optional(),
});
/** A live container (web's, or a role's) not serving by itself between deploys: how, since when, and in words. */
export const LiveProblem = z.object({ condition: z.enum(["exited", "restarting", "unhealthy"]), since: z.string(), exitCode: z.number().int().optional(), words: z.string() });
export type LiveProblem = z.infer<typeof LiveProblem>;

export const AppStatus = z.object({
  app: z.string(),
  image: z.string(),
  track: z.string(),
  resolvedTag: z.string().optional(),
  schedule: z.string(),
  live: Live.optional(),
  pin: Pin.optional(),
  paused: z.boolean(),
  releases: z.array(Release),
  skip: z.array(SkipEntry),
  running: z
    .object({ deployId: z.string(), step: StepName, version: z.string(), trigger: Trigger, startedAt: z.string() })
    .optional(),
  lastPoll: z.object({ at: z.string(), digest: z.string().optional(), error: ErrorRecord.optional() }).optional(),
  retrying: z
    .object({
      failures: z.number().int(),
      lastError: ErrorRecord,
      lastAt: z.string(),
      digest: z.string().optional(),
      nextTryAt: z.string().optional(),
      nextTryInMs: z.number().optional(),
    })
    .optional(),
  nextPoll: z.string().optional(),
  containers: z.array(ContainerView),
  /** The app's role containers (docs/design.md#roles). */
  roles: z.array(ContainerView.extend({ role: z.string(), liveProblem: LiveProblem.optional() })).optional(),
  /** A Swarm app's services (docs/design.md#swarm-services); optional, so a daemon from before them still parses. */
  services: z.array(ServiceStatusView).optional(),
  /** How the app runs; absent in replies of daemons before Swarm apps (containers, then). */
  backend: z.enum(["container", "swarm"]).optional(),
  conflicts: z.array(z.object({ name: z.string(), id: z.string(), state: z.string(), reason: z.string() })).optional(),
  routing: z
    .object({
      network: z.string(),
      networkExists: z.boolean().optional(),
      traefik: z.array(z.string()).optional(),
      lookError: z.string().optional(),
      confirmed: z.boolean(),
      settleMs: z.number(),
    })
    .optional(),
  warnings: z.array(z.string()).optional(),
  /** The live release's web container stopped serving by itself between deploys, and is not back yet (agent/daemon/live-watch.ts). */
  liveProblem: LiveProblem.optional(),
  mode: z.literal("notify").optional(),
  available: z.object({ version: z.string(), digest: z.string(), since: z.string() }).optional(),
  waiting: z
    .object({ gate: z.enum(["window", "minAge"]), version: z.string(), digest: z.string(), until: z.string(), minAgeMs: z.number().optional() })
    .optional(),
  /** The watch after the last switch is open (agent/deploy/watch.ts). */
  watch: z.object({ deployId: z.string(), until: z.string(), previous: z.string() }).optional(),
});
export type AppStatus = z.infer<typeof AppStatus>;

export const DaemonStats = z.object({
  rssBytes: z.number(),
  rssAnonBytes: z.number().optional(),
  heapUsedBytes: z.number(),
  heapTotalBytes: z.number(),
  externalBytes: z.number(),
  arrayBuffersBytes: z.number(),
  fds: z.number().optional(),
  timers: z.number(),
  engineStreams: z.number(),
});
export type DaemonStats = z.infer<typeof DaemonStats>;

export const StatusReport = z.object({
  version: z.string(),
  pid: z.number(),
  startedAt: z.string(),
  daemon: DaemonStats.optional(),
  apps: z.array(AppStatus),
  engineError: ErrorRecord.optional(),
  stateWrite: z.object({ since: z.string(), message: z.string() }).optional(),
});
export type StatusReport = z.infer<typeof StatusReport>;
export const ResumeResult = z.object({ app: z.string(), wasPinned: z.boolean() });
export type ResumeResult = z.infer<typeof ResumeResult>;
/** One notify target's answer to `agentctl notify test`. */
export const TargetResult = z.object({
  target: z.string(),
  format: z.string(),
  ok: z.boolean(),
  status: z.number().int().optional(),
  error: z.string().optional(),
  attempts: z.number().int(),
});
export const NotifyResult = z.array(TargetResult);
export type NotifyResult = z.infer<typeof NotifyResult>;

/** What `{"result": …}` holds for each verb. */
export const RESULT_SCHEMAS = {
  deploy: DeployOutcome,
  rollback: DeployOutcome,
  check: z.array(CheckResult),
  status: StatusReport,
  history: z.array(DeployRecord),
  resume: ResumeResult,
  notify: NotifyResult,
  logs: LogsResult,
} as const satisfies Record<Verb, z.ZodType>;

export type VerbResult<V extends Verb> = z.infer<(typeof RESULT_SCHEMAS)[V]>;

/** One line of a streaming answer, before the result is checked against its verb's schema. */
export const StreamLine = z.union([
  z.object({ event: z.unknown() }).strict(),
  z.object({ result: z.unknown() }).strict(),
  z.object({ error: WireError }).strict(),
]);
export type StreamLine = z.infer<typeof StreamLine>;

/** The body of a plain verb's answer. */
export const PlainBody = z.union([z.object({ result: z.unknown() }).strict(), z.object({ error: WireError }).strict()]);

/** Which HTTP status a plain verb's error carries; streaming verbs always answer 200 once validated. */
export function httpStatusFor(code: ErrorCode): number {
  switch (code) {
    case "BAD_ARGUMENT":
    case "CONFIG_INVALID":
      return 400;
    case "NO_RELEASE":
      return 404;
    case "DEPLOY_LOCKED":
      return 409;
    case "REGISTRY_UNAUTHORIZED":
    case "REGISTRY_NOT_FOUND":
    case "REGISTRY_UNAVAILABLE":
    case "PULL_FAILED":
      return 502;
    case "IMAGE_UNUSABLE":
    case "IMAGE_REFUSED":
    case "CONTAINER_CONFLICT":
    case "SERVICE_CONFLICT":
    case "ALREADY_RUNNING":
      return 409;
    case "ENGINE_UNAVAILABLE":
    case "DAEMON_UNAVAILABLE":
      return 503;
    case "NO_HEALTHCHECK":
    case "GREEN_UNHEALTHY":
    case "GREEN_EXITED":
    case "PREDEPLOY_FAILED":
    case "WATCH_FAILED":
    case "DEPLOY_ABORTED":
    case "STATE_CORRUPT":
    case "INTERNAL":
      return 500;
  }
}

/** `version: expected …; unknown field "foo"`: every issue with the field it concerns. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], fieldName: (path: string) => string = (p) => p): string {
  return issues
    .map((issue) => {
      const path = issue.path.map(String).join(".");
      if (issue.code === "unrecognized_keys") {
        const keys = issue.keys.map((k) => fieldName(path ? `${path}.${k}` : k));
        return `unknown field${keys.length > 1 ? "s" : ""} ${keys.map((k) => `"${k}"`).join(", ")}`;
      }
      return `${path ? fieldName(path) : "body"}: ${issue.message}`;
    })
    .join("; ");
}

// The schemas above restate control/api.ts for the wire; this type fails the build if the two drift apart.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Expect<T extends true> = T;
export type WireMatchesApi = [
  Expect<Same<DeployEvent, Api.DeployEvent>>,
  Expect<Same<DeployOutcome, Api.DeployOutcome>>,
  Expect<Same<CheckResult, Api.CheckResult>>,
  Expect<Same<StatusReport, Api.StatusReport>>,
  Expect<Same<DaemonStats, Api.DaemonStats>>,
  Expect<Same<ResumeResult, Awaited<ReturnType<Api.AgentApi["resume"]>>>>,
  Expect<Same<VerbResult<"history">, Awaited<ReturnType<Api.AgentApi["history"]>>>>,
  Expect<Same<NotifyResult, Awaited<ReturnType<Api.AgentApi["notify"]>>>>,
  Expect<Same<LogLine, Api.LogLine>>,
  Expect<Same<LogsResult, Api.LogsResult>>,
  Expect<Same<LogsRequest, Parameters<Api.AgentApi["logs"]>[0]>>,
];
