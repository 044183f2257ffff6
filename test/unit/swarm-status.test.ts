// What `agentctl status` shows of a Swarm app (deploy/swarm-status.ts, cli/commands/status.ts): each
// service from what the Engine showed of it, the tasks worth a look, the text a person reads, a
// reply without services (an older daemon's) still accepted, and the look's bound against a real
// socket that takes the connection and never answers.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Dockerode from "dockerode";
import { describe, expect, it } from "vitest";
import { statusLines } from "../../agent/cli/commands/status.js";
import { parseConfig } from "../../agent/config/load.js";
import type { StatusReport } from "../../agent/control/api.js";
import { StatusReport as StatusReportSchema } from "../../agent/control/protocol.js";
import { EngineClient } from "../../agent/docker/client.js";
import { OwnedSwarm, type ServiceView, type TaskView } from "../../agent/docker/owned-swarm.js";
import { lookServices, serviceStatus, shownTasks, statusServices } from "../../agent/deploy/swarm-status.js";
import { isAgentError } from "../../agent/errors.js";
import { appYaml } from "../support/config-text.js";
import { oneAppReport, REPORT_AT } from "../support/status-report.js";

const AT = REPORT_AT;
const V1 = `sha256:${"ab".repeat(32)}`;
const V2 = `sha256:${"9f".repeat(32)}`;
const NODE = "q2x7c0t1a9k3m5n8p4r6s2u0v";

function service(image: string, updateStatus?: ServiceView["updateStatus"]): ServiceView {
  return { id: "svc1", name: "web", version: 12, labels: {}, image, replicas: 2, hasHealthcheck: true, updated: true, updateStatus };
}

function task(id: string, slot: number, desiredState: string, state: string, digest: string, extra: Partial<TaskView> = {}): TaskView {
  return { id, slot, desiredState, state, image: `ghcr.io/acme/web@${digest}`, message: state, error: undefined, nodeId: NODE, ...extra };
}

describe("a Swarm app's services in status", () => {
  it("lists web's service first, then each role's under <app>-<role>", () => {
    const app = parseConfig(appYaml("    backend: swarm\n    roles:\n      worker: { command: [jobs] }\n      mailer: { command: [mail] }\n")).apps.web!;
    expect(statusServices("web", app)).toEqual([{ name: "web" }, { name: "web-worker", role: "worker" }, { name: "web-mailer", role: "mailer" }]);
  });

  it("keeps the tasks Swarm wants running and those still stopping, by slot, and leaves the ended ones out", () => {
    const tasks = [
      task("t5", 2, "shutdown", "shutdown", V1),
      task("t4", 2, "running", "starting", V2),
      task("t3", 2, "shutdown", "running", V1),
      task("t2", 1, "running", "running", V2),
      task("t1", 1, "shutdown", "failed", V1, { error: "task: non-zero exit (1)" }),
    ];
    expect(shownTasks(tasks).map((t) => t.id)).toEqual(["t2", "t4", "t3"]);
  });

  it("shows the spec's digest, replicas, Swarm's update state, and each task's digest, node and error", () => {
    const look = {
      service: service(`ghcr.io/acme/web@${V2}`, { state: "rollback_completed", message: "rollback completed" }),
      tasks: [
        task("t2", 2, "running", "rejected", V2, { error: "No such image: ghcr.io/acme/web@sha256:9f9f", nodeId: "" }),
        task("t1", 1, "running", "running", V1),
      ],
    };
    expect(serviceStatus({ name: "web" }, look, new Map([[NODE, "node-a"]]))).toEqual({
      name: "web",
      exists: true,
      digest: V2,
      replicas: 2,
      update: { state: "rollback_completed", message: "rollback completed" },
      tasks: [
        { slot: 1, state: "running", desiredState: "running", digest: V1, node: NODE, nodeName: "node-a" },
        { slot: 2, state: "rejected", desiredState: "running", digest: V2, error: "No such image: ghcr.io/acme/web@sha256:9f9f" },
      ],
    });
  });

  it("says a missing service is missing, and why one could not be read", () => {
    expect(serviceStatus({ name: "web-worker", role: "worker" }, undefined, new Map())).toEqual({ name: "web-worker", role: "worker", exists: false, tasks: [] });
    expect(serviceStatus({ name: "web" }, { error: "refusing to read service web (abc): it is not managed by deploy-agent" }, new Map())).toEqual({
      name: "web",
      exists: true,
      tasks: [],
      error: "refusing to read service web (abc): it is not managed by deploy-agent",
    });
  });

  it("prints the services and their tasks as tables, in place of the containers a Swarm app does not have", () => {
    const report = swarmReport([
      {
        name: "web",
        exists: true,
        digest: V2,
        replicas: 2,
        update: { state: "updating", message: "update in progress" },
        tasks: [
          { slot: 1, state: "running", desiredState: "running", digest: V2, node: NODE, nodeName: "node-a" },
          { slot: 2, state: "running", desiredState: "shutdown", digest: V1, node: NODE },
          { slot: 2, state: "preparing", desiredState: "running", digest: V2 },
        ],
      },
      { name: "web-worker", role: "worker", exists: false, tasks: [] },
    ]);
    const lines = statusLines(report, Date.parse(AT));
    expect(lines).not.toContain("  containers  none");
    expect(lines.slice(lines.indexOf("  services"))).toEqual([
      "  services",
      "    NAME        ROLE    DIGEST               REPLICAS  UPDATE",
      "    web         web     sha256:9f9f9f9f9f9f  2         updating (update in progress)",
      "    web-worker  worker  -                    -         missing: the agent makes it again from the live release at its next start",
      "  tasks",
      "    SERVICE  SLOT  STATE      DESIRED   DIGEST               NODE          ERROR",
      "    web      1     running    running   sha256:9f9f9f9f9f9f  node-a        -",
      "    web      2     running    shutdown  sha256:abababababab  q2x7c0t1a9k3  -",
      "    web      2     preparing  running   sha256:9f9f9f9f9f9f  -             -",
    ]);
  });

  it("shows why a service could not be read, and that no task is to run", () => {
    const lines = statusLines(swarmReport([{ name: "web", exists: true, error: "Docker Engine refused inspect of service web (HTTP 503): This node is not a swarm manager.", tasks: [] }]), Date.parse(AT));
    expect(lines).toContain("    web   web   -       -         not read: Docker Engine refused inspect of service web (HTTP 503): This node is not a swarm manager.");
    expect(lines).toContain("  tasks      none");
  });

  it("gives up on an Engine that takes the connection and never answers within the status bound, not docker.timeout", async () => {
    const dir = await mkdtemp(join(tmpdir(), "swarm-status-"));
    const socketPath = join(dir, "docker.sock");
    const held = new Set<Socket>();
    const server = createServer((s) => void held.add(s.on("close", () => held.delete(s))));
    await new Promise<void>((res) => server.listen(socketPath, res));
    try {
      const swarm = new OwnedSwarm(new EngineClient(new Dockerode({ socketPath }), socketPath, 30_000), { agentId: "a1", recordedDeploy: () => false });
      const app = parseConfig(appYaml("    backend: swarm\n    roles:\n      worker: { command: [jobs] }\n")).apps.web!;
      // The client's own deadline is 30 s: the message says which bound ended the wait.
      const err: unknown = await lookServices(swarm, "web", app, 300).catch((e: unknown) => e);
      expect(isAgentError(err, "ENGINE_UNAVAILABLE") && err.message).toMatch(/did not answer inspect of service web(-worker)? within 300ms$/);
    } finally {
      for (const s of held) s.destroy();
      await new Promise<void>((res) => server.close(() => res()));
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("accepts a status reply without services, as a daemon from before them sends", () => {
    const without = swarmReport(undefined);
    expect(StatusReportSchema.parse(without).apps[0]).not.toHaveProperty("services");
    const withServices = swarmReport([{ name: "web", exists: true, digest: V1, replicas: 1, tasks: [{ slot: 1, state: "running", desiredState: "running", digest: V1 }] }]);
    expect(StatusReportSchema.parse(withServices)).toEqual(withServices);
  });
});

function swarmReport(services: NonNullable<StatusReport["apps"][number]["services"]> | undefined): StatusReport {
  return oneAppReport(services ? { services } : {});
}
