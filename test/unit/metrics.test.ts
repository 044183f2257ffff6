// The metrics GET /metrics serves (agent/metrics/), read back with a Prometheus text parser: every
// metric is there with its labels, counters move with recorded deploys, polls and registry answers,
// and the state gauges follow a real state file at scrape time.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Config } from "../../agent/config/schema.js";
import { silentLogger } from "../../agent/log.js";
import { createMetrics } from "../../agent/metrics/metrics.js";
import { RegistryHttp } from "../../agent/registry/http.js";
import { StateStore } from "../../agent/state/store.js";
import { beginDeploy, endStep, ensureApp, finishDeploy, startStep } from "../../agent/state/transitions.js";
import { histogram, parseMetrics, sample } from "../support/prom-text.js";

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;
const T0 = "2026-01-01T10:00:00.000Z";
const dirs: string[] = [];
const servers: Server[] = [];
afterEach(async () => {
  dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true }));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

const app = (image: string) => ({ image, port: 8000, health: { path: "/health" } });

async function setup(apps: Record<string, ReturnType<typeof app>> = { web: app("127.0.0.1:5000/acme/web"), api: app("127.0.0.1:5000/acme/api") }) {
  const dir = mkdtempSync(join(tmpdir(), "metrics-"));
  dirs.push(dir);
  const config = Config.parse({ apps });
  const store = await StateStore.open(join(dir, "state.json"), { log: silentLogger(), historyLimit: 50 });
  const metrics = createMetrics({ config, store });
  return { config, store, metrics, scrape: async () => parseMetrics(await metrics.source.text()) };
}

describe("metrics", () => {
  it("serves every metric in the Prometheus text format, each app's counters at 0 before anything happened", async () => {
    const { metrics, scrape } = await setup();
    expect(metrics.source.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    const s = await scrape();
    for (const name of [
      "deploy_agent_deploys_total",
      "deploy_agent_deploy_duration_seconds",
      "deploy_agent_deploy_step_duration_seconds",
      "deploy_agent_polls_total",
      "deploy_agent_poll_failures_total",
      "deploy_agent_registry_requests_total",
      "deploy_agent_live_generation",
      "deploy_agent_live_since_timestamp_seconds",
      "deploy_agent_update_available",
      "deploy_agent_pinned",
      "process_cpu_seconds_total",
      "process_resident_memory_bytes",
      "nodejs_eventloop_lag_p99_seconds",
    ]) {
      expect(s[name], name).toBeDefined();
    }
    for (const a of ["web", "api"]) {
      expect(sample(s, "deploy_agent_polls_total", { app: a })).toBe(0);
      expect(sample(s, "deploy_agent_deploys_total", { app: a, trigger: "poll", outcome: "succeeded" })).toBe(0);
      expect(sample(s, "deploy_agent_deploys_total", { app: a, trigger: "rollback", outcome: "failed" })).toBe(0);
      expect(sample(s, "deploy_agent_pinned", { app: a })).toBe(0);
      expect(sample(s, "deploy_agent_update_available", { app: a })).toBe(0);
      // Nothing is live yet: no generation to show, rather than a made-up 0.
      expect(sample(s, "deploy_agent_live_generation", { app: a })).toBeUndefined();
    }
  });

  it("counts a deploy by trigger and outcome, with its duration and each step's", async () => {
    const { metrics, scrape } = await setup();
    const steps = [
      { name: "resolve" as const, startedAt: "2026-01-01T10:00:00.000Z", endedAt: "2026-01-01T10:00:00.200Z" },
      { name: "pull" as const, startedAt: "2026-01-01T10:00:00.200Z", endedAt: "2026-01-01T10:00:07.200Z" },
      // A step that never ended (the deploy failed in it) has no duration to show.
      { name: "create" as const, startedAt: "2026-01-01T10:00:07.200Z" },
    ];
    metrics.deployEnded({ app: "web", trigger: "poll", outcome: "succeeded", durationMs: 42_000, steps });
    metrics.deployEnded({ app: "web", trigger: "cli", outcome: "failed", durationMs: 3_000, steps: [] });
    const s = await scrape();
    expect(sample(s, "deploy_agent_deploys_total", { app: "web", trigger: "poll", outcome: "succeeded" })).toBe(1);
    expect(sample(s, "deploy_agent_deploys_total", { app: "web", trigger: "cli", outcome: "failed" })).toBe(1);
    expect(sample(s, "deploy_agent_deploys_total", { app: "api", trigger: "poll", outcome: "succeeded" })).toBe(0);
    const took = histogram(s, "deploy_agent_deploy_duration_seconds", { app: "web", trigger: "poll", outcome: "succeeded" });
    expect(took).toMatchObject({ count: 1, sum: 42 });
    expect(took?.buckets["30"]).toBe(0);
    expect(took?.buckets["60"]).toBe(1);
    expect(histogram(s, "deploy_agent_deploy_step_duration_seconds", { app: "web", step: "pull" })).toMatchObject({ count: 1, sum: 7 });
    expect(histogram(s, "deploy_agent_deploy_step_duration_seconds", { app: "web", step: "resolve" })).toMatchObject({ count: 1, sum: 0.2 });
    expect(histogram(s, "deploy_agent_deploy_step_duration_seconds", { app: "web", step: "create" })).toBeUndefined();
  });

  it("counts polls, and poll failures by error code", async () => {
    const { metrics, scrape } = await setup();
    metrics.pollAnswered("web");
    metrics.pollAnswered("web", "REGISTRY_UNAVAILABLE");
    metrics.pollAnswered("web", "REGISTRY_UNAVAILABLE");
    metrics.pollAnswered("api", "REGISTRY_UNAUTHORIZED");
    const s = await scrape();
    expect(sample(s, "deploy_agent_polls_total", { app: "web" })).toBe(3);
    expect(sample(s, "deploy_agent_polls_total", { app: "api" })).toBe(1);
    expect(sample(s, "deploy_agent_poll_failures_total", { app: "web", code: "REGISTRY_UNAVAILABLE" })).toBe(2);
    expect(sample(s, "deploy_agent_poll_failures_total", { app: "api", code: "REGISTRY_UNAUTHORIZED" })).toBe(1);
  });

  it("reads the live generation, the time it went live, pinned and an available update from the state file at each scrape", async () => {
    const { store, scrape } = await setup();
    await store.update((d) => {
      const rec = beginDeploy(d, { app: "web", trigger: "poll", version: "v1", startedAt: T0 });
      finishDeploy(d, "web", rec.id, { outcome: "succeeded", endedAt: T0 });
      ensureApp(d, "web").live = { deployId: rec.id, version: "v1", digest: D1, imageId: "sha256:abc", slot: "blue", generation: 7, since: T0 };
    });
    let s = await scrape();
    expect(sample(s, "deploy_agent_live_generation", { app: "web" })).toBe(7);
    expect(sample(s, "deploy_agent_live_since_timestamp_seconds", { app: "web" })).toBe(Date.parse(T0) / 1000);
    expect(sample(s, "deploy_agent_live_generation", { app: "api" })).toBeUndefined();

    await store.update((d) => {
      const web = ensureApp(d, "web");
      web.pin = { version: "v1", since: T0, deployId: web.live!.deployId };
      web.available = { version: "v2", digest: D2, since: T0 };
    });
    s = await scrape();
    expect(sample(s, "deploy_agent_pinned", { app: "web" })).toBe(1);
    expect(sample(s, "deploy_agent_update_available", { app: "web" })).toBe(1);
    expect(sample(s, "deploy_agent_pinned", { app: "api" })).toBe(0);

    // A digest a gate holds (minAge, window) is an update waiting too; once it is live it is not.
    await store.update((d) => {
      const web = ensureApp(d, "web");
      delete web.pin;
      delete web.available;
      web.seen = { version: "v2", digest: D2, since: T0 };
    });
    s = await scrape();
    expect(sample(s, "deploy_agent_pinned", { app: "web" })).toBe(0);
    expect(sample(s, "deploy_agent_update_available", { app: "web" })).toBe(1);
    await store.update((d) => void (ensureApp(d, "web").live!.digest = D2));
    expect(sample(await scrape(), "deploy_agent_update_available", { app: "web" })).toBe(0);
  });

  it("counts registry requests by status, naming the app whose repository each is for, and error when no answer came", async () => {
    const server = createServer((req, res) => {
      res.statusCode = req.url?.includes("/missing/") ? 404 : 200;
      res.end("{}");
    });
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    const { metrics, scrape } = await setup({ web: app(`${host}/acme/web`), api: app(`${host}/acme/api`), shared: app(`${host}/acme/api`) });
    const http = new RegistryHttp({ timeoutMs: 2_000, log: silentLogger(), onAnswer: metrics.registryAnswered });
    const get = (url: string) => http.send({ method: "GET", url: new URL(url), headers: {}, manual: true });
    await get(`http://${host}/v2/acme/web/manifests/latest`);
    await get(`http://${host}/v2/acme/web/manifests/latest`);
    await get(`http://${host}/v2/acme/missing/manifests/latest`);
    await get(`http://${host}/v2/acme/api/tags/list`);
    await get(`http://${host}/token?scope=repository:acme/web:pull`);
    // A port nobody listens on: refused, no answer.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", r));
    const deadHost = `127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((r) => closed.close(r));
    await expect(get(`http://${deadHost}/v2/acme/web/manifests/latest`)).rejects.toMatchObject({ code: "REGISTRY_UNAVAILABLE" });
    await http.close();

    const s = await scrape();
    expect(sample(s, "deploy_agent_registry_requests_total", { app: "web", registry: host, status: "200" })).toBe(2);
    expect(sample(s, "deploy_agent_registry_requests_total", { app: "", registry: host, status: "404" })).toBe(1);
    // Two apps share acme/api: its requests are for neither alone, and the token request for no app.
    expect(sample(s, "deploy_agent_registry_requests_total", { app: "", registry: host, status: "200" })).toBe(2);
    expect(sample(s, "deploy_agent_registry_requests_total", { registry: deadHost, status: "error" })).toBe(1);
  });

  it("keeps each daemon's metrics on its own registry", async () => {
    const one = await setup();
    const two = await setup();
    one.metrics.pollAnswered("web");
    expect(sample(await one.scrape(), "deploy_agent_polls_total", { app: "web" })).toBe(1);
    expect(sample(await two.scrape(), "deploy_agent_polls_total", { app: "web" })).toBe(0);
  });
});
