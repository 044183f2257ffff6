// The Traefik model on a real Engine: two slots of one app from the `good` fixture, labelled as in
// docs/design.md#slots-and-router-priorities, each with a Docker health check; requests through the model's proxy go
// where Traefik would send them as health and lifecycle change.
import http from "node:http";
import { setTimeout as sleep } from "node:timers/promises";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupTestRun } from "../support/cleanup.js";
import { FIXTURE_PORT, TEST_RUN_LABEL, fixtureImage, testRunId } from "../support/images.js";
import { startTraefikModel, type TraefikModel } from "../support/traefik-model.js";

const docker = new Dockerode();
const run = testRunId();
const app = `tm-${run}`;
const host = `${app}.test`;
const network = `tm-net-${run}`;
const blue = `${app}-blue`;
const green = `${app}-green`;
const DEADLINE_MS = 20_000;

let model: TraefikModel;

function slotLabels(slot: "blue" | "green", priority: number): Record<string, string> {
  const r = `${app}-${slot}`;
  return {
    "traefik.enable": "true",
    "traefik.docker.network": network,
    [`traefik.http.routers.${r}.rule`]: `Host(\`${host}\`)`,
    [`traefik.http.routers.${r}.entrypoints`]: "web",
    [`traefik.http.routers.${r}.priority`]: String(priority),
    [`traefik.http.routers.${r}.service`]: r,
    [`traefik.http.services.${r}.loadbalancer.server.port`]: String(FIXTURE_PORT),
    [TEST_RUN_LABEL]: run,
  };
}

/** Health gated on a marker file, so that the test decides when green turns healthy. */
async function createSlot(name: string, slot: "blue" | "green", priority: number, version: string): Promise<Dockerode.Container> {
  const image = await fixtureImage(docker, "good", version);
  return docker.createContainer({
    name,
    Image: image,
    Labels: slotLabels(slot, priority),
    Healthcheck: {
      Test: ["CMD-SHELL", `test -f /ready && wget -q -O /dev/null http://127.0.0.1:${FIXTURE_PORT}/health`],
      Interval: 1_000_000_000,
      Timeout: 2_000_000_000,
      Retries: 2,
      StartPeriod: 60_000_000_000,
    },
    HostConfig: { Init: true, NetworkMode: network },
  });
}

async function markReady(c: Dockerode.Container): Promise<void> {
  const exec = await c.exec({ Cmd: ["touch", "/ready"] });
  await exec.start({ hijack: false, stdin: false, Detach: true });
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
  const deadline = Date.now() + DEADLINE_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${DEADLINE_MS}ms`);
    await sleep(100);
  }
}

async function health(c: Dockerode.Container): Promise<string | undefined> {
  return (await c.inspect()).State.Health?.Status;
}

function get(path: string, hostHeader = host): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${model.url}${path}`, { headers: { host: hostHeader }, agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${path} for ${hostHeader}: no answer within 5000ms`)));
    req.on("error", reject);
  });
}

async function versionsOf(n: number): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await get("/version")).body);
  return out;
}

let blueC: Dockerode.Container;
let greenC: Dockerode.Container;

beforeAll(async () => {
  await docker.createNetwork({ Name: network, Labels: { [TEST_RUN_LABEL]: run } });
  model = await startTraefikModel({ docker });
  blueC = await createSlot(blue, "blue", 101, "1.0.0");
  greenC = await createSlot(green, "green", 102, "2.0.0");
  await blueC.start();
  await markReady(blueC);
  await waitFor("blue healthy", async () => (await health(blueC)) === "healthy");
});

afterAll(async () => {
  await model?.close();
  await cleanupTestRun();
});

describe("the Traefik model on a real engine", () => {
  it("sends every request to blue while green's health is still starting", async () => {
    await greenC.start();
    await waitFor("green seen as starting", () =>
      model.table().dropped.some((d) => d.name === green && d.reason === "unhealthy or starting (health starting)"),
    );
    expect(model.servingContainer(host)).toBe(blue);
    expect(await versionsOf(5)).toEqual(Array(5).fill("1.0.0"));
  });

  it("switches to the higher-priority router once green is healthy", async () => {
    await markReady(greenC);
    await waitFor("green healthy", async () => (await health(greenC)) === "healthy");
    await model.waitForServing(host, green, DEADLINE_MS);
    const ours = model.table().routes.filter((r) => r.name.startsWith(app));
    expect(ours.map((r) => [r.name, r.priority])).toEqual([
      [green, 102],
      [blue, 101],
    ]);
    expect(await versionsOf(5)).toEqual(Array(5).fill("2.0.0"));
  });

  it("answers 404 for a host that no router matches", async () => {
    const r = await get("/version", `nobody-${run}.test`);
    expect(r).toEqual({ status: 404, body: "404 page not found\n" });
  });

  it("falls back to blue when green is stopped", async () => {
    await greenC.stop({ t: 5 });
    await model.waitForServing(host, blue, DEADLINE_MS);
    expect(model.table().routers.has(green)).toBe(false);
    expect(await versionsOf(5)).toEqual(Array(5).fill("1.0.0"));
    // The history a failed-request assertion prints: each change of what serves the host, in order.
    const changes = model.history(host).split("\n").slice(1).map((l) => l.replace(/^ {2}\d\d:\d\d:\d\d\.\d{3} /, ""));
    expect(changes).toEqual([`${host} served by nothing`, `${host} served by ${blue}`, `${host} served by ${green}`, `${host} served by ${blue}`]);
  });
});
