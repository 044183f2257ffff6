// The Swarm routing model (test/support/swarm-routing-model.ts) on a real single-node swarm in a
// private dockerd: web's service as the agent builds it, with its route, answers through the model;
// an update to a second good digest moves the answers from v1 to v2 without one failed request;
// an update to a never-healthy image is rolled back by Swarm, and v2's tasks answer throughout;
// with no task, or a task that refuses the connection, the model's 502 says which and why.
import http from "node:http";
import { randomBytes } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { OwnedSwarm } from "../../agent/docker/engine.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { TEST_RUN_LABEL, testRunId, type PublishedImage } from "../support/images.js";
import { publishSwarmFixtures, startPrivateSwarm, swarmWebSpec, type PrivateSwarm, type SwarmFixtures } from "../support/private-swarm.js";
import { startSwarmRoutingModel, type SwarmRoutingModel } from "../support/swarm-routing-model.js";

const run = testRunId();
const app = `smweb-${run}`;
const network = `sm-net-${run}`;
const host = `${app}.test`;
const me = { agentId: randomBytes(16).toString("hex"), recordedDeploy: () => false };
/** Long enough for a start and a rollback on a loaded 2-core box; a follow that needs it has failed anyway. */
const FOLLOW_DEADLINE_MS = 60_000;
/** One request every 50 ms: about 20 a second, as a small site's steady traffic. */
const LOOP_GAP_MS = 50;

let ps: PrivateSwarm | undefined;
let docker: Dockerode;
let swarm: OwnedSwarm;
let model: SwarmRoutingModel;
let images: SwarmFixtures;

/** Web's service at `image`, routed for `host` on the file's overlay network (see swarmWebSpec). */
function spec(image: PublishedImage, version: string, generation: number, name = app, port = 8000) {
  return swarmWebSpec(name, image, { version, generation }, [`route: { rule: "Host(\`${name}.test\`)", entrypoints: [web], network: ${network} }`], port);
}

interface Answer {
  at: number;
  status: number;
  body: string;
  task: string;
  taskId: string;
}

function get(path: string, hostHeader = host): Promise<Answer> {
  const at = Date.now();
  return new Promise((resolve) => {
    const req = http.get(`${model.url}${path}`, { headers: { host: hostHeader }, agent: false, timeout: 5000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ at, status: res.statusCode ?? 0, body, task: String(res.headers["x-traefik-model-task"] ?? ""), taskId: String(res.headers["x-traefik-model-task-id"] ?? "") }));
      res.on("error", (err) => resolve({ at, status: 0, body: String(err), task: "", taskId: "" }));
    });
    req.on("timeout", () => req.destroy(new Error("client timeout after 5000ms")));
    req.on("error", (err) => resolve({ at, status: 0, body: String(err), task: "", taskId: "" }));
  });
}

/** Sends GET /version every LOOP_GAP_MS until stopped; `stop()` resolves with every answer. */
function requestLoop(): { stop(): Promise<Answer[]> } {
  const answers: Answer[] = [];
  let running = true;
  const done = (async () => {
    while (running) {
      answers.push(await get("/version"));
      await sleep(LOOP_GAP_MS);
    }
  })();
  return {
    async stop() {
      running = false;
      await done;
      return answers;
    },
  };
}

const failed = (answers: Answer[]) => answers.filter((a) => a.status !== 200);
/** The versions in the order they answered, each run of equal answers as one. */
const sequence = (answers: Answer[]) => answers.map((a) => a.body).filter((b, i, all) => i === 0 || all[i - 1] !== b);

beforeAll(async () => {
  images = await publishSwarmFixtures(`swarm/model-${run}`);
  ps = await startPrivateSwarm("s23sm", me);
  ({ docker, swarm } = ps);
  await swarm.ensureNetwork(network);
}, 180_000);

afterAll(async () => {
  await (model as SwarmRoutingModel | undefined)?.close();
  if (ps) {
    for (const s of await docker.listServices({ filters: { label: [`${TEST_RUN_LABEL}=${run}`] } }).catch(() => [])) {
      await docker.getService(s.ID).remove().catch(() => undefined);
    }
    // Its overlay network and swarm end with the private dockerd.
    await ps.close();
  }
  await cleanupTestRun();
}, 120_000);

describe("the Swarm routing model on a single-node swarm", () => {
  it("routes the agent's web service through its virtual IP to its tasks, reached on docker_gwbridge", async () => {
    await swarm.createService(spec(images.v1, "v1", 1));
    const r = await swarm.followUpdate(app, { deadlineMs: FOLLOW_DEADLINE_MS });
    expect(r.state, r.message).toBe("running");
    // Traefik's own refresh at its default 15 s: with lbswarm its one server, the virtual IP, never
    // changes, so what a request reaches follows the tasks alone.
    model = await startSwarmRoutingModel({ docker });
    await model.waitForServing(host, (tasks) => tasks.length === 2, 10_000);
    expect(model.servingTasks(host)?.map((t) => [t.name, t.image])).toEqual([
      [`${app}.1`, `${images.v1.image}@${images.v1.digest}`],
      [`${app}.2`, `${images.v1.image}@${images.v1.digest}`],
    ]);
    // Each address the model connects to is the task container's on docker_gwbridge.
    const gw = (await docker.getNetwork("docker_gwbridge").inspect()) as { Containers?: Record<string, { IPv4Address?: string }> };
    const bridge = new Map(Object.entries(gw.Containers ?? {}).map(([id, c]) => [id, c.IPv4Address?.split("/")[0]]));
    const serving = model.servingTasks(host)!;
    expect(serving.every((t) => t.address !== undefined)).toBe(true);
    expect(serving.map((t) => t.address)).toEqual(serving.map((t) => bridge.get(t.containerId)));
    const answers = await Promise.all([get("/version"), get("/version"), get("/version"), get("/version")]);
    expect(answers.map((a) => [a.status, a.body])).toEqual(Array(4).fill([200, "v1"]));
    // Round robin over both tasks, as IPVS's default scheduler.
    expect(new Set(answers.map((a) => a.task))).toEqual(new Set([`${app}.1`, `${app}.2`]));
    const other = await new Promise<number>((resolve) => http.get(`${model.url}/`, { headers: { host: "other.test" }, agent: false }, (res) => (res.resume(), resolve(res.statusCode ?? 0))));
    expect(other).toBe(404);
  });

  it("moves the answers from v1 to v2 during an update, with no failed request", async () => {
    const v1Tasks = model.servingTasks(host)!.map((t) => t.taskId);
    const loop = requestLoop();
    await sleep(1000);
    const before = (await swarm.inspectService(app))!;
    await swarm.updateService(app, before.version, spec(images.v2, "v2", 2));
    const r = await swarm.followUpdate(app, { deadlineMs: FOLLOW_DEADLINE_MS });
    await model.waitForServing(host, images.v2.digest, 10_000);
    await sleep(1000);
    const answers = await loop.stop();
    expect(r.state, r.message).toBe("completed");
    expect(failed(answers), model.history(host)).toEqual([]);
    expect(sequence(answers)[0]).toBe("v1");
    expect(sequence(answers).at(-1)).toBe("v2");
    expect(answers.length).toBeGreaterThan(40);
    // Each answer came from the task the model named, v1's before and v2's after.
    const v2Tasks = model.servingTasks(host)!.map((t) => t.taskId);
    const byTask = (ids: string[]) => new Set(answers.filter((a) => ids.includes(a.taskId)).map((a) => a.body));
    expect([byTask(v1Tasks), byTask(v2Tasks)]).toEqual([new Set(["v1"]), new Set(["v2"])]);
  });

  it("keeps v2's tasks answering while Swarm rolls back an update to a never-healthy image, with no failed request", async () => {
    const v2Tasks = model.servingTasks(host)!.map((t) => t.taskId).sort();
    const loop = requestLoop();
    await sleep(1000);
    const before = (await swarm.inspectService(app))!;
    await swarm.updateService(app, before.version, spec(images.bad, "bad", 3));
    const r = await swarm.followUpdate(app, { deadlineMs: FOLLOW_DEADLINE_MS });
    await sleep(1000);
    const answers = await loop.stop();
    expect(r.state, r.message).toBe("rollback_completed");
    expect(failed(answers), model.history(host)).toEqual([]);
    expect(new Set(answers.map((a) => a.body))).toEqual(new Set(["v2"]));
    // The same two tasks throughout: the bad one never joined the virtual IP.
    expect(model.servingTasks(host)!.map((t) => t.taskId).sort()).toEqual(v2Tasks);
    expect(model.history(host)).not.toContain("sha256:" + images.bad.digest.slice(7, 19));
  });

  it("answers 502 naming the service when no task is behind its virtual IP", async () => {
    const before = (await swarm.inspectService(app))!;
    await swarm.updateService(app, before.version, { ...spec(images.v2, "v2", 4), Mode: { Replicated: { Replicas: 0 } } });
    await model.waitForServing(host, (tasks) => tasks.length === 0, 20_000);
    const [vip] = [...model.table().vips.keys()];
    const a = await get("/version");
    expect([a.status, a.body]).toEqual([502, `Bad Gateway (${app}: no task behind its virtual IP ${vip})`]);
  });

  it("answers 502 naming the task and the socket error when its container refuses the connection", async () => {
    // The router's port is 8001; the fixture listens on 8000 only, and its health check passes.
    const name = `smrefuse-${run}`;
    // Traefik lists services only at its refresh: a model that will not refresh in this test never sees the new one.
    const stale = await startSwarmRoutingModel({ docker, refreshMs: 600_000 });
    await swarm.createService({ ...spec(images.v1, "v1", 1, name, 8001), Mode: { Replicated: { Replicas: 1 } } });
    const r = await swarm.followUpdate(name, { deadlineMs: FOLLOW_DEADLINE_MS });
    expect(r.state, r.message).toBe("running");
    // One started now lists it at once.
    const fresh = await startSwarmRoutingModel({ docker });
    try {
      await fresh.waitForServing(`${name}.test`, (tasks) => tasks.length === 1, 10_000);
      const [task] = fresh.servingTasks(`${name}.test`)!;
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) =>
        http
          .get(`${fresh.url}/version`, { headers: { host: `${name}.test` }, agent: false }, (res) => {
            let body = "";
            res.setEncoding("utf8").on("data", (c: string) => (body += c)).on("end", () => resolve({ status: res.statusCode ?? 0, body }));
          })
          .on("error", reject),
      );
      expect(res).toEqual({ status: 502, body: `Bad Gateway (task ${name}.1 ${task!.taskId} at ${task!.address}:8001: ECONNREFUSED)` });
      expect(stale.servingTasks(`${name}.test`)).toBeUndefined();
    } finally {
      await fresh.close();
      await stale.close();
    }
  });
});
