// What a person waiting on a deploy's health sees: progress while the new release starts, and the
// container's own last words when Docker calls it unhealthy. Real Engine, real fixture images.
import { randomBytes } from "node:crypto";
import Dockerode from "dockerode";
import type Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AgentError } from "../../agent/errors.js";
import { connectEngine, type OwnedEngine } from "../../agent/docker/engine.js";
import type { HealthSpec } from "../../agent/docker/health.js";
import { ownerLabels } from "../../agent/docker/ownership.js";
import { cleanupTestRun, disposableContainer } from "../support/cleanup.js";
import { FIXTURE_PORT, TEST_RUN_LABEL, fixtureImage, testRunId, type Behaviour } from "../support/images.js";

const run = testRunId();
const network = `da-pg-${run}`;
const docker = new Dockerode();
const owner = { agentId: randomBytes(16).toString("hex"), recordedDeploy: () => false };
let engine: OwnedEngine;

beforeAll(async () => {
  engine = (await connectEngine("/var/run/docker.sock")).ownedBy(owner);
  await engine.ensureNetwork(network);
});

afterAll(async () => {
  await cleanupTestRun();
});

async function started(behaviour: Behaviour, name: string, health: HealthSpec, cmd?: string[]): Promise<Docker.Container> {
  const image = await engine.inspectImage(await fixtureImage(docker, behaviour, `pg-${run}`));
  if (!image) throw new Error(`fixture ${behaviour} missing right after the build`);
  const hc = await engine.chooseHealthcheck(name, image, health);
  const container = await docker.createContainer({
    name,
    Image: image.id,
    ...(cmd ? { Cmd: cmd } : {}),
    Labels: { [TEST_RUN_LABEL]: run, ...ownerLabels(name, owner) },
    Healthcheck: hc.healthcheck,
    StopTimeout: 2,
    HostConfig: { Init: true, RestartPolicy: { Name: "no" }, NetworkMode: network },
  });
  await container.start();
  return container;
}

describe("waitHealthy", () => {
  it("reports Docker's health, the agent's probe and the time against the deadline while the new release starts", async () => {
    const name = `pg-slow-${run}`;
    const health: HealthSpec = { path: "/health", port: FIXTURE_PORT, intervalMs: 1000, startTimeoutMs: 30_000 };
    await using held = disposableContainer(await started("slow", name, health));
    const ip = (await held.container.inspect()).NetworkSettings.Networks[network]?.IPAddress;
    const messages: string[] = [];

    await engine.waitHealthy(held.container.id, {
      probeUrl: `http://${ip}:${FIXTURE_PORT}/health`,
      deadlineMs: 30_000,
      successes: 1,
      label: `the new release ${name}`,
      onProgress: (m) => messages.push(m),
    });

    // The slow fixture serves nothing for 8 s: Docker says starting and the probe is refused meanwhile.
    expect(messages.length).toBeGreaterThan(0);
    expect(messages[0]).toMatch(/^Docker health: starting, agent probe: \S.*, \d+s of 30s$/);
    for (const m of messages) expect(m).toMatch(/^Docker health: \w+, agent probe: .+, \d+s of 30s$/);
  });

  it("throws GREEN_UNHEALTHY with the container's last log lines, cleaned, when Docker turns it unhealthy", async () => {
    const name = `pg-unhealthy-${run}`;
    // A 1 s start period: the failing /health check turns Docker's status unhealthy after three tries.
    const health: HealthSpec = { path: "/health", port: FIXTURE_PORT, intervalMs: 1000, startTimeoutMs: 1000 };
    const cmd = ["/bin/sh", "-c", "printf 'pg: listening without /health \\033[31mred\\033[0m\\n'; exec httpd -f -p 8000 -h /www"];
    await using held = disposableContainer(await started("never-healthy", name, health, cmd));

    const err = await engine.waitHealthy(held.container.id, { deadlineMs: 60_000, successes: 1, label: `the new release ${name}` }).then(
      () => undefined,
      (e: unknown) => e,
    );

    expect(err).toBeInstanceOf(AgentError);
    const e = err as AgentError;
    expect(e.code).toBe("GREEN_UNHEALTHY");
    expect(e.message).toMatch(new RegExp(`^the new release ${name} turned unhealthy in Docker \\(last check exit 1: .*\\); last log lines:\\npg: listening without /health`));
    expect(e.message).not.toContain("\u001b");
    expect(e.hint).toMatch(/health path and port/);
  });
});
