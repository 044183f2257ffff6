// The opt-in HTTP listener on the real daemon, Engine and registry: a signed hook deploys a newly
// pushed digest at once (the app's schedule is yearly, so nothing else can), while unsigned,
// wrongly signed, replayed-to-another-app, oversized and trickled requests get 401/401/404/413/408
// and start nothing; past five calls a minute the hook answers 429; /healthz answers 200, and
// /metrics serves what a Prometheus text parser reads, counting the deploys so far.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentYaml, appStatus, deployHistory, loggedLines, settledDeploy, startAgent, storyApp, waitFor, writeConfig, type AgentProcess } from "../support/agent.js";
import { freePort, httpCall, rawRequest, signedHeaders } from "../support/hook-client.js";
import { publishVersion, testRunId } from "../support/images.js";
import { histogram, parseMetrics, sample } from "../support/prom-text.js";
import { storyScope } from "../support/story-scope.js";

const run = testRunId();
const app = `hh-hook-${run}`;
const repo = `stories/${app}`;
const scope = storyScope("hh-hook-");
const SECRET = `hh-secret-${run}`;
const BODY = JSON.stringify({ action: "published", registry_package: { name: app } });

let agent: AgentProcess;
let port: number;

beforeAll(async () => {
  const dir = scope.dir();
  const secretFile = join(dir, "hook.secret");
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  port = await freePort();
  const http = `http: { listen: "127.0.0.1:${port}", hookSecretFile: ${secretFile} }\n`;
  writeConfig(dir, agentYaml(dir, storyApp(app, `127.0.0.1:5000/${repo}`, run, { schedule: "0 0 1 1 *" })) + http);
  await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v1" });
  agent = scope.track(await startAgent(dir));
  // The poll at start deploys v1; the hooks below are about v2.
  expect((await settledDeploy(agent, app)).outcome).toBe("succeeded");
}, 180_000);

afterAll(() => scope.close());

describe("POST /hooks/<app>", () => {
  it("refuses bad requests with 401, 401, 404, 413 and 408, and none of them starts a check", async () => {
    const v2 = await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v2" });
    const before = (await deployHistory(agent, app)).length;
    const trickled = rawRequest(
      port,
      `POST /hooks/${app} HTTP/1.1\r\nHost: agent\r\nX-Hub-Signature-256: ${signedHeaders(SECRET, BODY)["X-Hub-Signature-256"]}\r\nContent-Length: ${BODY.length}\r\n\r\n`,
      BODY.slice(0, 4),
      BODY.slice(4),
    );
    expect((await httpCall(port, "POST", `/hooks/${app}`, BODY)).status).toBe(401);
    expect((await httpCall(port, "POST", `/hooks/${app}`, BODY, signedHeaders("not-the-secret", BODY))).status).toBe(401);
    // The body and signature a real caller sent, replayed to an app that is not configured.
    const replayed = await httpCall(port, "POST", `/hooks/hh-other-${run}`, BODY, signedHeaders(SECRET, BODY));
    expect(replayed).toMatchObject({ status: 404, text: "not found\n" });
    // Refused on its Content-Length, before the body is read: only its first bytes are sent.
    const oversized = await rawRequest(port, `POST /hooks/${app} HTTP/1.1\r\nHost: agent\r\nContent-Length: ${2 * 1024 * 1024}\r\n\r\n`, "x".repeat(1000));
    expect(oversized).toMatch(/^HTTP\/1\.1 413 /);
    expect(await trickled).toMatch(/^HTTP\/1\.1 408 /);
    // A check starts before its 202 is written, and it logs this line as it starts.
    expect(loggedLines(agent, "hook: checking now", app)).toEqual([]);
    expect(await deployHistory(agent, app)).toHaveLength(before);

    const sentAt = new Date().toISOString();
    const accepted = await httpCall(port, "POST", `/hooks/${app}`, BODY, signedHeaders(SECRET, BODY));
    expect(accepted).toMatchObject({ status: 202, text: "check started\n" });
    expect(accepted.headers.server).toBeUndefined();
    const deployed = await waitFor("the hook's deploy of v2", async () => {
      const newest = (await deployHistory(agent, app))[0];
      return newest !== undefined && newest.startedAt >= sentAt && newest.outcome !== "running" ? newest : undefined;
    });
    expect(deployed.outcome).toBe("succeeded");
    expect([deployed.digest, deployed.indexDigest]).toContain(v2.digest);
    expect(await deployHistory(agent, app)).toHaveLength(before + 1);
  }, 120_000);

  it("answers 429 with Retry-After after five calls a minute", async () => {
    // One of the five went to the deploy above.
    for (let i = 0; i < 4; i++) expect((await httpCall(port, "POST", `/hooks/${app}`, BODY, signedHeaders(SECRET, BODY))).status).toBe(202);
    const limited = await httpCall(port, "POST", `/hooks/${app}`, BODY, signedHeaders(SECRET, BODY));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
  });
});

describe("GET /healthz and /metrics", () => {
  it("answers 200 while the daemon serves", async () => {
    expect(await httpCall(port, "GET", "/healthz")).toMatchObject({ status: 200, text: "ok\n" });
  });

  it("serves the Prometheus text a parser reads, with the deploys, polls, registry requests and live generation of the app so far", async () => {
    const answer = await httpCall(port, "GET", "/metrics");
    expect(answer.status).toBe(200);
    expect(String(answer.headers["content-type"])).toMatch(/^text\/plain; version=0\.0\.4/);
    const scrape = await parseMetrics(answer.text);
    const history = await deployHistory(agent, app);
    const succeeded = history.filter((r) => r.outcome === "succeeded").length;
    // v1 at start and v2 by the hook, both polls' deploys; the hooks after them found nothing new.
    expect(succeeded).toBe(2);
    expect(sample(scrape, "deploy_agent_deploys_total", { app, trigger: "poll", outcome: "succeeded" })).toBe(succeeded);
    expect(histogram(scrape, "deploy_agent_deploy_duration_seconds", { app, outcome: "succeeded" })?.count).toBe(succeeded);
    expect(sample(scrape, "deploy_agent_polls_total", { app })).toBeGreaterThanOrEqual(2);
    expect(sample(scrape, "deploy_agent_registry_requests_total", { app, status: "200" })).toBeGreaterThan(0);
    expect(sample(scrape, "deploy_agent_live_generation", { app })).toBe((await appStatus(agent, app)).live?.generation);
    expect(sample(scrape, "deploy_agent_pinned", { app })).toBe(0);
  });
});
