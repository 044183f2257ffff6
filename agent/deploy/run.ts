// What one deploy carries from step to step, and the small helpers every step uses.
import type { MonotonicClock } from "../clock.js";
import type { AppConfig, Config } from "../config/schema.js";
import type { DeployEvent } from "../control/api.js";
import type { ContainerDetail, OwnedEngine } from "../docker/engine.js";
import type { EngineAuth } from "../engine-auth.js";
import { AgentError } from "../errors.js";
import type { Logger } from "../log.js";
import type { StateStore } from "../state/store.js";
import type { DeployRecord, Trigger } from "../state/schema.js";
import type { TraefikConfirm } from "../traefik/api.js";
import type { DeployLocks } from "./lock.js";

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
  /** The clock every wait's deadline and every step's duration runs on; see agent/clock.ts. */
  clock?: MonotonicClock;
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
  /** Set once blue is being stopped: from then on green serves and is never removed by a failure. */
  committed: boolean;
  log: Logger;
}

export async function updateRecord(run: Run, fn: (r: DeployRecord) => void): Promise<void> {
  await run.deps.store.update((s) => {
    const r = s.apps[run.target.app]?.history.find((h) => h.id === run.id);
    if (!r) throw new AgentError("INTERNAL", `deploy ${run.id} of ${run.target.app} is missing from the state file`);
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
