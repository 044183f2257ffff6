// What one deploy carries from step to step, and the small helpers every step uses.
import type { MonotonicClock } from "../clock.js";
import type { AppConfig, Config } from "../config/schema.js";
import type { DeployEvent } from "../control/api.js";
import type { ContainerDetail, OwnedEngine } from "../docker/engine.js";
import type { OwnedSwarm } from "../docker/owned-swarm.js";
import type { EngineAuth } from "../engine-auth.js";
import { abortReason } from "../abort.js";
import { AgentError } from "../errors.js";
import type { Logger } from "../log.js";
import type { MetricsSink } from "../metrics/sink.js";
import type { NotifySink } from "../notify/event.js";
import type { OutcomeNotes } from "./notify-outcome.js";
import type { StateStore } from "../state/store.js";
import type { DeployRecord, Live, Slot, State, StepName, Trigger } from "../state/schema.js";
import { endStep, startStep } from "../state/transitions.js";
import type { TraefikConfirm } from "../traefik/api.js";
import type { DeployLocks } from "./lock.js";
import type { RoleRun } from "./roles.js";
import type { ServiceWrite } from "./swarm-services.js";

/** What the deploy needs from the registry module (agent/registry/client.ts). */
export interface Registry {
  /** `manual`: asked for by a person, so sent even while the registry is backed off after failures. */
  resolveTag(image: string, tag: string, opts?: { manual?: boolean }): Promise<{ digest: string; indexDigest?: string }>;
  engineAuth(image: string): Promise<EngineAuth | undefined>;
}

export interface DeployDeps {
  config: Config;
  engine: OwnedEngine;
  registry: Registry;
  store: StateStore;
  locks: DeployLocks;
  log: Logger;
  traefik?: TraefikConfirm | undefined;
  /** The wall clock, for the timestamps the state file records and people read. */
  now?: () => Date;
  /** Called at every step's start and end; the daemon's test-only kill switch hangs here (docs/reliability.md). */
  onBoundary?: ((step: StepName, phase: "start" | "end") => void) | undefined;
  /** The clock every wait's deadline and every step's duration runs on; see agent/clock.ts. */
  clock?: MonotonicClock;
  /** Where events for the `notify` targets go (agent/notify/); absent, nothing is sent. */
  notify?: NotifySink | undefined;
  /** Where deploy and poll counts and durations go (agent/metrics/); absent, nothing is counted. */
  metrics?: MetricsSink | undefined;
  /** The Swarm's services, for `backend: swarm` apps; absent when no app has that backend. */
  swarm?: OwnedSwarm | undefined;
}

/** What to deploy. `digest` is known for polls and rollbacks; a CLI deploy of a tag resolves it. */
export interface DeployTarget {
  app: string;
  trigger: Trigger;
  version: string;
  digest?: string;
  indexDigest?: string;
  /** A local image to use instead of pulling (rollback). */
  imageId?: string;
  onEvent?: (e: DeployEvent) => void;
  /** Fires on SIGTERM: the deploy stops at the next safe point. */
  signal?: AbortSignal;
  /**
   * A change to the state made in the same update that makes the release live (or finds it live
   * already): the pin and rollback skip of service.ts, written while the deploy lock is held, so
   * no poll can land between the switch and them.
   */
  onLive?: (draft: State, live: { deployId: string; digest: string }) => void;
}

/** Where the sequence is; everything the failure branch and the record step need. */
export interface Run {
  deps: DeployDeps;
  target: DeployTarget;
  app: AppConfig;
  id: string;
  slot: "blue" | "green";
  generation: number;
  digest: string;
  indexDigest?: string | undefined;
  imageId?: string;
  imageRef?: string;
  greenId?: string;
  blue?: ContainerDetail | undefined;
  /** The slot of the container that serves now, as the Engine showed it when the deploy began. */
  blueSlot?: Slot | undefined;
  /** Set once start ended: green is healthy, so Traefik routes to it until it fails on its own. */
  routed: boolean;
  /** Set at the commit point (drain ended): green is recorded live and is never removed by a failure. */
  committed: boolean;
  /** Set when the stop step stopped blue and kept it for the watch after the switch (config `watch`). */
  keptBlue?: boolean;
  /** What the commit recorded as live. */
  live?: Live;
  /** The app's roles in this deploy (roles.ts); empty without roles. */
  roles?: RoleRun[];
  /** Set when a role's new container failed once the release was routed: undo.ts takes web's green out at once. */
  failedRole?: string;
  log: Logger;
  /** Kept for the deploy's notification (notify-outcome.ts). */
  notes?: OutcomeNotes;
  /** A Swarm app's deploy: the services it wrote (swarm-deploy.ts); absent for a container app. */
  swarm?: { written: ServiceWrite[] };
}

export async function updateRecord(run: Run, fn: (r: DeployRecord) => void): Promise<void> {
  await updateRecordOf(run.deps, run.target.app, run.id, fn);
}

/** Changes deploy `id` of `app` in the state file: a deploy's steps, and reconcile finishing one (postdeploy-restart.ts). */
export async function updateRecordOf(deps: Pick<DeployDeps, "store">, app: string, id: string, fn: (r: DeployRecord) => void): Promise<void> {
  await deps.store.update((s) => {
    const r = s.apps[app]?.history.find((h) => h.id === id);
    if (!r) throw new AgentError("INTERNAL", `deploy ${id} of ${app} is missing from the state file`);
    fn(r);
  });
}

export function mustGreen(run: Run): string {
  if (!run.greenId) throw new AgentError("INTERNAL", `deploy ${run.id}: the new release's container was not created`);
  return run.greenId;
}

export function emit(run: Pick<Run, "target">, e: DeployEvent): void {
  try {
    run.target.onEvent?.(e);
  } catch {
    // A listener that went away (agentctl disconnected) must not stop the deploy.
  }
}

export function nowIso(run: Run): string {
  return (run.deps.now ?? (() => new Date()))().toISOString();
}

export function short(digestOrId: string): string {
  return digestOrId.replace(/^sha256:/, "").slice(0, 12);
}

/** Writes the step's start to the state file before doing it, so a restarted agent knows where it stopped. */
export async function step(run: Run, name: StepName, body: () => Promise<string | void>): Promise<void> {
  // Once green is routed the deploy runs to the end: removing green would cut the requests it serves.
  if (!run.routed && run.target.signal?.aborted) {
    throw new AgentError("DEPLOY_ABORTED", `deploy ${run.id} of ${run.target.app} stopped before ${name}: ${abortReason(run.target.signal)}`);
  }
  const at = nowIso(run);
  await updateRecord(run, (r) => startStep(r, name, at));
  run.deps.onBoundary?.(name, "start");
  run.deps.locks.setStep(run.target.app, name);
  run.log.info({ step: name }, `step ${name} started`);
  emit(run, { type: "step", app: run.target.app, deployId: run.id, step: name, phase: "start", at });
  const detail = await body();
  await endStepNow(run, name, detail ?? undefined);
}

export async function endStepNow(run: Run, name: StepName, detail?: string): Promise<void> {
  const at = nowIso(run);
  await updateRecord(run, (r) => endStep(r, name, at, detail));
  run.deps.onBoundary?.(name, "end");
  run.log.info({ step: name, detail }, `step ${name} done`);
  emit(run, { type: "step", app: run.target.app, deployId: run.id, step: name, phase: "end", at, ...(detail ? { detail } : {}) });
}
