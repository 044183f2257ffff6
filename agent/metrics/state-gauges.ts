// The gauges of each app's state, as functions of its AppState: metrics.ts reads them at scrape time.
import type { AppState } from "../state/schema.js";

export interface StateGauge {
  name: string;
  help: string;
  /** The value for one app; undefined leaves the app's series out (nothing live yet). */
  value(s: Readonly<AppState>): number | undefined;
}

export const STATE_GAUGES: readonly StateGauge[] = [
  {
    name: "deploy_agent_live_generation",
    help: "Generation of the live release (each deploy of the app takes the next number).",
    value: (s) => s.live?.generation,
  },
  {
    name: "deploy_agent_live_since_timestamp_seconds",
    help: "When the live release went live, in seconds since the Unix epoch.",
    value: (s) => (s.live ? Date.parse(s.live.since) / 1000 : undefined),
  },
  {
    name: "deploy_agent_update_available",
    help: "1 while a new release is known and not deployed: notify mode's available release, or a digest waiting on minAge or the window.",
    value: (s) => (updateWaiting(s) ? 1 : 0),
  },
  {
    name: "deploy_agent_pinned",
    help: "1 while the app is pinned (agentctl pin or rollback): polling does not deploy it.",
    value: (s) => (s.pin ? 1 : 0),
  },
];

/** A release polling found and left undeployed: `available` (notify mode), or `seen` held by a gate. */
function updateWaiting(s: Readonly<AppState>): boolean {
  if (s.available && s.available.digest !== s.live?.digest) return true;
  const seen = s.seen;
  return seen !== undefined && seen.digest !== s.live?.digest && !s.skip.some((k) => k.digest === seen.digest);
}
