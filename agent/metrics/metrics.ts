// The Prometheus metrics GET /metrics serves (prom-client, one registry per daemon, never the
// library's global one). Counters and histograms are fed by the deploy, poll and registry paths;
// the gauges of each app's state are read from the state store at scrape time.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Config } from "../config/schema.js";
import type { StateStore } from "../state/store.js";
import { registryAppOf } from "./registry-apps.js";
import type { DeployEnded, MetricsSink } from "./sink.js";
import { STATE_GAUGES } from "./state-gauges.js";

/** What the HTTP listener serves at GET /metrics. */
export interface MetricsSource {
  contentType: string;
  text(): Promise<string>;
}

export interface Metrics extends MetricsSink {
  source: MetricsSource;
  /** One registry HTTP answer (its status), or `"error"` when none came (timeout, refused, reset). */
  registryAnswered(url: URL, status: number | "error"): void;
}

export interface MetricsOptions {
  config: Pick<Config, "apps">;
  store: Pick<StateStore, "app">;
  /** prom-client's process and Node.js metrics (CPU, memory, file descriptors, event loop, GC); default on. */
  processMetrics?: boolean;
}

/** Seconds to minutes: a deploy is a pull, a health wait and a drain. */
const DEPLOY_BUCKETS = [1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200];
/** A step can take milliseconds (resolve, record) or minutes (pull, start). */
const STEP_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const TRIGGERS = ["poll", "cli", "rollback"] as const;
const OUTCOMES = ["succeeded", "failed", "aborted", "unchanged"] as const;
/**
 * prom-client samples event-loop delay on a timer at this resolution (default 10 ms): 1 s keeps the
 * idle daemon from waking 100 times a second while the lag percentiles still show a stuck loop.
 */
const EVENT_LOOP_RESOLUTION_MS = 1000;

export function createMetrics(opts: MetricsOptions): Metrics {
  const registry = new Registry();
  const apps = Object.keys(opts.config.apps);
  const { deploys, deployDuration, stepDuration, polls, pollFailures, registryRequests } = instruments(registry);
  for (const { name, help, value } of STATE_GAUGES) {
    new Gauge({
      name,
      help,
      labelNames: ["app"] as const,
      registers: [registry],
      // Read at scrape time: the state store is the truth, so no path has to remember to set these.
      collect() {
        this.reset();
        for (const app of apps) {
          const v = value(opts.store.app(app));
          if (v !== undefined) this.set({ app }, v);
        }
      },
    });
  }
  // Every app's series exist from the start, at 0: a rate() over a series that appears only at its
  // first event misses that event (https://prometheus.io/docs/practices/instrumentation/#avoid-missing-metrics).
  for (const app of apps) {
    polls.labels({ app }).inc(0);
    for (const trigger of TRIGGERS) for (const outcome of OUTCOMES) deploys.labels({ app, trigger, outcome }).inc(0);
  }
  if (opts.processMetrics ?? true) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_RESOLUTION_MS });
  const appOf = registryAppOf(opts.config);

  return {
    source: { contentType: registry.contentType, text: () => registry.metrics() },
    deployEnded(d: DeployEnded) {
      const labels = { app: d.app, trigger: d.trigger, outcome: d.outcome };
      deploys.inc(labels);
      deployDuration.observe(labels, d.durationMs / 1000);
      for (const s of d.steps) {
        if (!s.endedAt) continue;
        const seconds = (Date.parse(s.endedAt) - Date.parse(s.startedAt)) / 1000;
        if (seconds >= 0) stepDuration.observe({ app: d.app, step: s.name }, seconds);
      }
    },
    pollAnswered(app, errorCode) {
      polls.inc({ app });
      if (errorCode !== undefined) pollFailures.inc({ app, code: errorCode });
    },
    registryAnswered(url, status) {
      registryRequests.inc({ app: appOf(url), registry: url.host, status: String(status) });
    },
  };
}

/** The counters and histograms the deploy, poll and registry paths feed. */
function instruments(registry: Registry) {
  const deploys = new Counter({
    name: "deploy_agent_deploys_total",
    help: "Deploys that ended, by trigger (poll, cli, rollback) and outcome (succeeded, failed, aborted, unchanged).",
    labelNames: ["app", "trigger", "outcome"] as const,
    registers: [registry],
  });
  const deployDuration = new Histogram({
    name: "deploy_agent_deploy_duration_seconds",
    help: "Time from a deploy's start to its outcome, by trigger and outcome.",
    labelNames: ["app", "trigger", "outcome"] as const,
    buckets: DEPLOY_BUCKETS,
    registers: [registry],
  });
  const stepDuration = new Histogram({
    name: "deploy_agent_deploy_step_duration_seconds",
    help: "Time each deploy step took (resolve, pull, predeploy, create, start, confirm, drain, stop, postdeploy, record), ended or failed.",
    labelNames: ["app", "step"] as const,
    buckets: STEP_BUCKETS,
    registers: [registry],
  });
  const polls = new Counter({ name: "deploy_agent_polls_total", help: "Polls that asked the registry for the tracked tag's digest.", labelNames: ["app"] as const, registers: [registry] });
  const pollFailures = new Counter({
    name: "deploy_agent_poll_failures_total",
    help: "Polls whose registry question failed, by error code (REGISTRY_UNAVAILABLE, REGISTRY_UNAUTHORIZED, REGISTRY_NOT_FOUND, ...).",
    labelNames: ["app", "code"] as const,
    registers: [registry],
  });
  const registryRequests = new Counter({
    name: "deploy_agent_registry_requests_total",
    help: 'Registry HTTP requests by registry host and status code ("error" when no answer came); app is "" for token requests and images shared by apps.',
    labelNames: ["app", "registry", "status"] as const,
    registers: [registry],
  });
  return { deploys, deployDuration, stepDuration, polls, pollFailures, registryRequests };
}
