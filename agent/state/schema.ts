// The state file (state.json): every deploy, every app's live release, and what the poller must skip.
// Versioned with `schemaVersion`; written atomically by store.ts.
import { z } from "zod";

export const STATE_SCHEMA_VERSION = 1;

/** The deploy sequence's steps, named as in docs/design.md#the-deploy-sequence. */
/** `predeploy` and `postdeploy` run only for an app that configures them (deploy/one-off.ts). */
export const STEP_NAMES = ["resolve", "pull", "predeploy", "create", "start", "confirm", "drain", "stop", "postdeploy", "record"] as const;
export const StepName = z.enum(STEP_NAMES);
export type StepName = z.infer<typeof StepName>;

export const Slot = z.enum(["blue", "green"]);
export type Slot = z.infer<typeof Slot>;

export const Trigger = z.enum(["poll", "cli", "rollback"]);
export type Trigger = z.infer<typeof Trigger>;

/**
 * `available`: a notify-mode app's new digest, recorded (no steps, nothing pulled) for `agentctl deploy`.
 * `rolled-back`: it succeeded, then failed during the watch after the switch and was rolled back by the agent.
 */
export const Outcome = z.enum(["running", "succeeded", "failed", "aborted", "available", "rolled-back"]);
export type Outcome = z.infer<typeof Outcome>;

const Digest = z.string().regex(/^sha256:[a-f0-9]{64}$/, "expected sha256:<64 hex>");
const Iso = z.string().min(1);

export const StepRecord = z.object({
  name: StepName,
  startedAt: Iso,
  endedAt: Iso.optional(),
  detail: z.string().optional(),
});
export type StepRecord = z.infer<typeof StepRecord>;

export const ErrorRecord = z.object({ code: z.string(), message: z.string(), hint: z.string().optional() });
export type ErrorRecord = z.infer<typeof ErrorRecord>;

/** How a release step's one-off container ended: its exit code (137 when killed at its timeout) and its last output lines, cleaned. */
export const HookRun = z.object({
  exitCode: z.number().int(),
  timedOut: z.boolean(),
  output: z.string(),
  /** From the Engine's start to its exit (State.StartedAt, FinishedAt): the command's own run time. */
  durationMs: z.number().nonnegative().optional(),
});
export type HookRun = z.infer<typeof HookRun>;

export const HookRuns = z.object({ predeploy: HookRun.optional(), postdeploy: HookRun.optional() });
export type HookRuns = z.infer<typeof HookRuns>;

export const DeployRecord = z.object({
  id: z.string().min(1),
  app: z.string().min(1),
  trigger: Trigger,
  /** The tag (or version) deployed, as resolved: "latest", "v1.2.0". */
  version: z.string(),
  /** What the engine pulled and what the label on the container says: the platform manifest digest, or the tag's digest. */
  digest: Digest.optional(),
  /** The digest the tag pointed at when it was an index (multi-arch); equal to digest otherwise. */
  indexDigest: Digest.optional(),
  imageId: z.string().optional(),
  slot: Slot.optional(),
  generation: z.number().int().nonnegative().optional(),
  /** The release that was live when this deploy began (what a failure leaves serving). */
  previous: z
    .object({ digest: Digest, version: z.string(), slot: Slot, generation: z.number().int() })
    .optional(),
  steps: z.array(StepRecord),
  outcome: Outcome,
  error: ErrorRecord.optional(),
  /** The release steps that ran (absent in older files and when none is configured). */
  hooks: HookRuns.optional(),
  startedAt: Iso,
  endedAt: Iso.optional(),
});
export type DeployRecord = z.infer<typeof DeployRecord>;

/** A release that served successfully; its image is kept on the host (tagged) for rollback. */
export const Release = z.object({
  deployId: z.string(),
  version: z.string(),
  digest: Digest,
  indexDigest: Digest.optional(),
  imageId: z.string(),
  /** The local tag that protects the image from pruning, e.g. deploy-agent/web:rollback-7. */
  keepTag: z.string().optional(),
  deployedAt: Iso,
});
export type Release = z.infer<typeof Release>;

export const Live = z.object({
  deployId: z.string(),
  version: z.string(),
  digest: Digest,
  imageId: z.string(),
  slot: Slot,
  generation: z.number().int().nonnegative(),
  since: Iso,
});
export type Live = z.infer<typeof Live>;

/** A digest the poller must not deploy again on its own: it failed, or it was rolled back from. */
export const SkipEntry = z.object({
  digest: Digest,
  version: z.string(),
  reason: z.enum(["failed", "rolled-back"]),
  deployId: z.string(),
  at: Iso,
});
export type SkipEntry = z.infer<typeof SkipEntry>;

/**
 * Polling is paused for the app. `digest` and `rolledBackFrom` came later (absent in older files):
 * a rollback pins the release it went back to and names the one it left, so `status` can say why.
 */
export const Pin = z.object({
  version: z.string(),
  since: Iso,
  deployId: z.string(),
  digest: Digest.optional(),
  rolledBackFrom: z.object({ version: z.string(), digest: Digest }).optional(),
});
export type Pin = z.infer<typeof Pin>;

/** A notify-mode app's release found by polling and not deployed: `agentctl deploy <app>` deploys it. */
export const Available = z.object({
  version: z.string(),
  digest: Digest,
  indexDigest: Digest.optional(),
  since: Iso,
});
export type Available = z.infer<typeof Available>;

/**
 * The digest the tracked tag named when polling first saw it (wall time): what `minAge` counts
 * from, kept here so a restart does not start the count again. `notified` once `update-available`
 * was sent for it, so a restart does not send it twice.
 */
export const Seen = z.object({
  version: z.string(),
  digest: Digest,
  since: Iso,
  notified: z.boolean().optional(),
});
export type Seen = z.infer<typeof Seen>;

/**
 * The watch after a switch (config `watch`): green serves, blue is stopped but kept until `until`
 * (wall time), so the agent can start it again if green fails (deploy/watch.ts). `rollingBack` is
 * written before blue is started again, so a restart finishes a rollback it finds begun.
 */
export const Watch = z.object({
  deployId: z.string(),
  until: Iso,
  greenId: z.string(),
  blue: z.object({
    id: z.string(),
    name: z.string(),
    slot: Slot,
    generation: z.number().int().nonnegative(),
    deployId: z.string(),
    version: z.string(),
    digest: Digest,
    imageId: z.string(),
  }),
  rollingBack: z.string().optional(),
});
export type Watch = z.infer<typeof Watch>;

export const AppState = z.object({
  /** The highest generation ever used for this app; the next deploy uses generation + 1. */
  generation: z.number().int().nonnegative(),
  live: Live.optional(),
  /** Successful releases, newest first, bounded by the app's `keep`. */
  releases: z.array(Release),
  pin: Pin.optional(),
  /** Absent in older files and whenever no watch is open. */
  watch: Watch.optional(),
  skip: z.array(SkipEntry),
  /** Deploys, newest first, bounded by the config's `history`. */
  history: z.array(DeployRecord),
  /** Came later (absent in older files): see Available and Seen above. */
  available: Available.optional(),
  seen: Seen.optional(),
});
export type AppState = z.infer<typeof AppState>;

/** An agent's identity: random, made with its state file, on every container it creates (label deploy-agent.owner). */
export const AgentId = z.string().regex(/^[a-f0-9]{16,64}$/, "expected 16 to 64 lower-case hex digits");

export const State = z.object({
  schemaVersion: z.literal(STATE_SCHEMA_VERSION),
  /** Absent only in files written before identities existed; the store adds one when it opens such a file. */
  agentId: AgentId.optional(),
  nextDeployId: z.number().int().positive(),
  apps: z.record(z.string(), AppState),
});
export type State = z.infer<typeof State>;

export function emptyState(): State {
  return { schemaVersion: STATE_SCHEMA_VERSION, nextDeployId: 1, apps: {} };
}

export function emptyAppState(): AppState {
  return { generation: 0, releases: [], skip: [], history: [] };
}
