// kill -9 in the middle of a roles deploy (docs/design.md#roles): the daemon SIGKILLs itself
// (test-only DEPLOY_AGENT_TEST_KILL_AT) at one step boundary after another, each time of a new
// release, and is started again with the next boundary armed. After each restart every role runs
// the release web runs, one container per role, and requests through the routing model never fail.
import Dockerode from "dockerode";
import { afterAll, describe, expect, it } from "vitest";
import { agentYaml, requestLoop, startAgent, storyApp, waitFor, writeConfig, type AgentProcess } from "../support/agent.js";
import { parsedState } from "../support/fault-matrix.js";
import { publishVariant } from "../support/image-variant.js";
import { publishVersion, testRunId } from "../support/images.js";
import { storyScope } from "../support/story-scope.js";
import { startTraefikModel } from "../support/traefik-model.js";

const run = testRunId();
const app = `rl-kill-${run}`;
const repo = `stories/${app}`;
const docker = new Dockerode();
const scope = storyScope("rl-kill-");

const WORKER = `["sh", "-c", "mkdir -p /tmp; touch /tmp/worker-alive; while true; do sleep 1; done"]`;
const ALIVE = `{ command: "test -f /tmp/worker-alive", startTimeout: 10s, interval: 500ms }`;

afterAll(() => scope.close());

/** Waits until no deploy runs and web and every role run one release, `digest`, one container each; returns their names. */
async function oneRelease(agent: AgentProcess, digest: string): Promise<string[]> {
  return waitFor(`${app} to settle with web and every role on ${digest.slice(7, 19)}`, async () => {
    const a = parsedState(agent).apps[app];
    if (!a || a.history.some((r) => r.outcome === "running") || a.live?.digest !== digest) return undefined;
    const cs = await docker.listContainers({ all: true, filters: { label: [`deploy-agent.app=${app}`] } });
    const same = cs.every((c) => c.State === "running" && c.Labels["deploy-agent.digest"] === digest && c.Labels["deploy-agent.deploy-id"] === a.live!.deployId);
    return cs.length === 3 && same ? cs.map((c) => c.Names[0]!.slice(1)).sort() : undefined;
  }, 90_000);
}

async function restart(dir: string, killed: AgentProcess, killAt?: string): Promise<AgentProcess> {
  expect(await killed.exited).toBe(-1);
  expect(killed.lines.some((l) => l.includes("DEPLOY_AGENT_TEST_KILL_AT reached"))).toBe(true);
  return scope.track(await startAgent(dir, { env: killAt ? { DEPLOY_AGENT_TEST_KILL_AT: killAt } : {} }));
}

describe("kill -9 in the middle of a roles deploy", () => {
  it("ends each time with web and every role on one release, one container per role, after kills at create:end, start:end and stop:start", async () => {
    const dir = scope.dir();
    const roles = `\n    roles:\n      worker: { command: ${WORKER}, health: ${ALIVE} }\n      solo: { command: ${WORKER}, health: ${ALIVE}, overlap: false }`;
    writeConfig(dir, agentYaml(dir, storyApp(app, `127.0.0.1:5000/${repo}`, run, { settle: "3s" }) + roles));
    const traefik = await startTraefikModel({ docker });
    try {
      await publishVersion({ repo, tag: "v1", behaviour: "good", version: "v1" });
      const v1 = (await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v1" })).digest;
      let agent = scope.track(await startAgent(dir, { env: { DEPLOY_AGENT_TEST_KILL_AT: "create:end:2" } }));
      const slotNames = (slot: string) => [`${app}-${slot}`, `${app}-solo-${slot}`, `${app}-worker-${slot}`];
      const first = await oneRelease(agent, v1);
      expect(first).toEqual(slotNames("blue"));
      await waitFor(`${app} to serve`, () => traefik.servingContainer(`${app}.test`), 30_000);
      const loop = requestLoop(traefik.url, `${app}.test`);

      // Killed at create:end: undone. The tag goes back to v1 first, so the restart's poll finds nothing new.
      await publishVariant({ repo, fromTag: "v1", tags: ["latest"], variant: "kill-create" });
      await waitFor("the daemon to be killed at create:end", () => agent.lines.some((l) => l.includes("DEPLOY_AGENT_TEST_KILL_AT reached")), 60_000);
      await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v1" });
      agent = await restart(dir, agent, "start:end:1");
      expect(await oneRelease(agent, v1)).toEqual(slotNames("blue"));

      // Killed at start:end (every role and web healthy, web routed, not drained) and at stop:start (committed): finished forward.
      const cells = [
        { variant: "kill-start", next: "stop:start:1" },
        { variant: "kill-stop", next: undefined },
      ];
      let slot = "blue";
      for (const cell of cells) {
        const digest = await publishVariant({ repo, fromTag: "v1", tags: ["latest"], variant: cell.variant });
        agent = await restart(dir, agent, cell.next);
        slot = slot === "blue" ? "green" : "blue";
        expect(await oneRelease(agent, digest), cell.variant).toEqual(slotNames(slot));
      }
      await waitFor(`${app} to serve from ${slot}`, () => traefik.servingContainer(`${app}.test`) === `${app}-${slot}` || undefined, 30_000);
      const seen = await loop.stop();
      expect(seen.ok).toBeGreaterThan(0);
      expect(seen.failed, JSON.stringify(seen.failed.slice(0, 5))).toEqual([]);
    } finally {
      await traefik.close();
    }
  }, 300_000);
});
