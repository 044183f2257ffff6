// The metrics of one real poll and deploy on the real Engine and registry, with no daemon: a poll
// (agent/deploy/polling.ts) finds a pushed digest and deploys it through runDeploy, and the text
// the metrics serve, read with a Prometheus parser, shows the poll, the registry's answers, the
// deploy, its step durations and the new live generation. The over-HTTP story is test/stories/.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { monotonicNow } from "../../agent/clock.js";
import { parseConfig } from "../../agent/config/load.js";
import { runDeploy } from "../../agent/deploy/deploy.js";
import { DeployLocks } from "../../agent/deploy/lock.js";
import { Polling } from "../../agent/deploy/polling.js";
import { connectEngine } from "../../agent/docker/engine.js";
import { silentLogger } from "../../agent/log.js";
import { createMetrics } from "../../agent/metrics/metrics.js";
import { RegistryClient } from "../../agent/registry/client.js";
import { StateStore } from "../../agent/state/store.js";
import { storyApp } from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { publishVersion, testRunId } from "../support/images.js";
import { histogram, parseMetrics, sample } from "../support/prom-text.js";

const run = testRunId();
const dir = mkdtempSync(join(tmpdir(), "mt-metrics-"));
afterAll(async () => {
  await cleanupTestRun();
  rmSync(dir, { recursive: true, force: true });
});

describe("metrics of a real deploy", () => {
  it("count the poll, the registry's answers and the deploys, time the new release's steps once and show its live generation", async () => {
    const app = `mt-metrics-${run}`;
    const pushed = await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "good", version: "v1" });
    const config = parseConfig(`state: ${dir}/state.json\nsocket: ${dir}/agent.sock\napps:${storyApp(app, pushed.image, run, { drain: "0s", settle: "0s" })}\n`);
    const log = silentLogger();
    const store = await StateStore.open(config.state, { log, historyLimit: 50 });
    const metrics = createMetrics({ config, store });
    const engine = await connectEngine(config.docker.socket);
    const registry = new RegistryClient({ config, log, platform: engine.platform, onAnswer: metrics.registryAnswered });
    const deps = { config, engine: engine.ownedBy(store), registry, store, locks: new DeployLocks(), log, metrics };
    const before = await parseMetrics(await metrics.source.text());
    expect(sample(before, "deploy_agent_deploys_total", { app, trigger: "poll", outcome: "succeeded" })).toBe(0);
    expect(sample(before, "deploy_agent_live_generation", { app })).toBeUndefined();

    const result = await new Polling(deps, new AbortController().signal, monotonicNow).poll(app);
    expect(result, result.detail).toMatchObject({ result: "deployed", digest: pushed.digest });
    // `agentctl deploy` of the live tag: counted as unchanged, and the live deploy's steps are not counted again.
    expect(await runDeploy(deps, { app, trigger: "cli", version: "latest" })).toMatchObject({ outcome: "unchanged" });
    await registry.close();
    await store.close();

    const s = await parseMetrics(await metrics.source.text());
    expect(sample(s, "deploy_agent_polls_total", { app })).toBe(1);
    expect(s.deploy_agent_poll_failures_total?.data).toEqual([]);
    expect(sample(s, "deploy_agent_registry_requests_total", { app, registry: "127.0.0.1:5000", status: "200" })).toBeGreaterThanOrEqual(1);
    expect(sample(s, "deploy_agent_deploys_total", { app, trigger: "poll", outcome: "succeeded" })).toBe(1);
    expect(sample(s, "deploy_agent_deploys_total", { app, trigger: "cli", outcome: "unchanged" })).toBe(1);
    expect(histogram(s, "deploy_agent_deploy_duration_seconds", { app, trigger: "poll", outcome: "succeeded" })?.count).toBe(1);
    for (const step of ["resolve", "pull", "create", "start", "confirm", "drain", "stop", "record"]) {
      expect(histogram(s, "deploy_agent_deploy_step_duration_seconds", { app, step })?.count, step).toBe(1);
    }
    expect(sample(s, "deploy_agent_live_generation", { app })).toBe(result.deploy?.generation);
    expect(sample(s, "deploy_agent_live_since_timestamp_seconds", { app })).toBeGreaterThan(0);
    expect(sample(s, "deploy_agent_update_available", { app })).toBe(0);
  });
});
