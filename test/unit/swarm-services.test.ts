// The pure parts of a Swarm app's deploy (deploy/swarm-services.ts, swarm-deploy.ts): the order of
// its services, how long an update is followed, whose fault a failed update was (and so whether its
// digest is skipped), and the progress line agentctl deploy prints for a task.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../agent/config/load.js";
import type { FollowResult, ServiceView, TaskView } from "../../agent/docker/owned-swarm.js";
import { skipsRelease } from "../../agent/deploy/faults.js";
import { roleServiceSpec, webServiceSpec } from "../../agent/deploy/service-plan.js";
import { taskLine } from "../../agent/deploy/swarm-deploy.js";
import { failureOf, followMs, serviceNames, type ServiceWrite } from "../../agent/deploy/swarm-services.js";
import { commandHealthcheck } from "../../agent/docker/healthcheck.js";

const app = parseConfig(`apps:
  shop:
    backend: swarm
    replicas: 3
    image: ghcr.io/acme/shop
    port: 8000
    health: { path: /health, command: "true", startTimeout: 20s, interval: 2s }
    roles:
      worker: { command: [bin/jobs] }
      mailer: { command: [bin/mail], overlap: false }
`).apps.shop!;
const digest = `sha256:${"b".repeat(64)}`;
const image = `ghcr.io/acme/shop@${digest}`;
const write: ServiceWrite = { name: "shop", created: false, image, followMs: 1 };

function task(over: Partial<TaskView>): TaskView {
  return { id: "t1abcdefghijklmnop", slot: 2, nodeId: "n1", desiredState: "shutdown", state: "failed", image, message: "", error: undefined, ...over };
}

function result(state: FollowResult["state"], message: string, tasks: TaskView[]): FollowResult {
  const service: ServiceView = { id: "s1", name: "shop", version: 9, labels: {}, image, replicas: 3, hasHealthcheck: true, updated: true, updateStatus: { state, message } };
  return { state, message, service, tasks };
}

describe("a Swarm app's services", () => {
  it("are the roles' in config order, then web's: the order they are written in", () => {
    expect(serviceNames("shop", app)).toEqual(["shop-worker", "shop-mailer", "shop"]);
  });

  it("are each followed for every task's start and monitor in turn, plus a minute for the nodes to pull", () => {
    const release = { deployId: "7", version: "v2", digest, generation: 7 };
    const web = webServiceSpec("shop", app, release, commandHealthcheck("true", 2000, 20_000));
    // 3 tasks × (20 s start + 20 s + 3 × 2 s monitor) + 60 s.
    expect(followMs(web)).toBe(3 * (20_000 + 26_000) + 60_000);
    // A role without a health check: no start period, the 10 s a role must run; a singleton has one task.
    const mailer = roleServiceSpec("shop", app, "mailer", app.roles.mailer!, release);
    expect(followMs(mailer)).toBe(10_000 + 60_000);
  });
});

describe("a failed Swarm update", () => {
  it("whose new task turned unhealthy (Swarm kills it: a non-zero exit) is the release's fault, GREEN_UNHEALTHY, and says what Swarm and the task said", () => {
    const err = failureOf(write, result("rollback_completed", "rollback completed", [task({ error: "task: non-zero exit (143): dockerexec: unhealthy container" })]));
    expect(err.code).toBe("GREEN_UNHEALTHY");
    expect(err.message).toBe("Swarm rolled service shop back to the release before (rollback completed); task 2: failed, task: non-zero exit (143): dockerexec: unhealthy container");
    expect(err.hint).toBe("docker service ps shop --no-trunc shows each task's error");
    expect(skipsRelease(err.code)).toBe(true);
  });

  it("whose new task exited by itself is GREEN_EXITED, skipped too", () => {
    const err = failureOf(write, result("rollback_completed", "rollback completed", [task({ error: "task: non-zero exit (3)" })]));
    expect([err.code, skipsRelease(err.code)]).toEqual(["GREEN_EXITED", true]);
  });

  it("whose task a node could not pull is PULL_FAILED, which polls try again: not the release's fault", () => {
    const err = failureOf(write, result("rollback_completed", "rollback completed", [task({ state: "rejected", error: "No such image: ghcr.io/acme/shop@sha256:bbbb" })]));
    expect([err.code, skipsRelease(err.code)]).toEqual(["PULL_FAILED", false]);
  });

  it("whose task no node fits stays pending: CONFIG_INVALID, not skipped, with a hint about placement", () => {
    const pending = task({ desiredState: "running", state: "pending", message: "pending task scheduling", error: "no suitable node (scheduling constraints not satisfied on 1 node)" });
    const err = failureOf(write, result("timed_out", "service shop not settled after 60s: its update is updating", [pending]));
    expect([err.code, skipsRelease(err.code)]).toEqual(["CONFIG_INVALID", false]);
    expect(err.message).toContain("task 2: pending, no suitable node");
    expect(err.hint).toContain("placement");
  });

  it("that Swarm paused, or whose rollback paused, says so", () => {
    expect(failureOf(write, result("paused", "update paused due to failure", [])).message).toBe("Swarm paused the update of service shop (update paused due to failure)");
    expect(failureOf(write, result("rollback_paused", "rollback paused", [])).message).toBe("Swarm rolled service shop back, and that rollback failed and is paused (rollback paused)");
  });

  it("names only the new release's tasks: an old task's error is not the release's", () => {
    const old = task({ image: `ghcr.io/acme/shop@sha256:${"c".repeat(64)}`, error: "task: non-zero exit (1)" });
    const err = failureOf(write, result("rollback_completed", "rollback completed", [old]));
    expect(err.message).toBe("Swarm rolled service shop back to the release before (rollback completed)");
  });
});

describe("a task's progress line", () => {
  it("says the service, the slot, the state, where Swarm moves it, the digest and why", () => {
    expect(taskLine("shop", task({ desiredState: "running", state: "running", message: "started" }))).toBe("shop task 2: running (bbbbbbbbbbbb): started");
    expect(taskLine("shop", task({ desiredState: "shutdown", state: "running", message: "running" }))).toBe("shop task 2: running, to shutdown (bbbbbbbbbbbb)");
    expect(taskLine("shop", task({ slot: undefined, state: "rejected", error: "No such image" }))).toBe("shop task t1abcdefghij: rejected, to shutdown (bbbbbbbbbbbb): No such image");
  });
});
