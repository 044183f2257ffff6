// What the deploy and poll paths tell the metrics (agent/metrics/metrics.ts), as plain calls: the
// paths import this interface only, never prom-client, so a test can pass its own or none.
import type { StepRecord, Trigger } from "../state/schema.js";

/** One deploy that returned an outcome: `unchanged` when the release was live already. */
export interface DeployEnded {
  app: string;
  trigger: Trigger;
  outcome: "succeeded" | "failed" | "aborted" | "unchanged";
  durationMs: number;
  /** The deploy's own steps as its record holds them; empty for `unchanged` (no step ran). */
  steps: readonly StepRecord[];
}

export interface MetricsSink {
  deployEnded(d: DeployEnded): void;
  /** One poll's registry answer: `errorCode` when it failed (the AgentError code). */
  pollAnswered(app: string, errorCode?: string): void;
}
