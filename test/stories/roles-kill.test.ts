// kill -9 in every step of a deploy of an app with roles and release steps (docs/design.md#roles,
// #release-steps): the daemon SIGKILLs itself (test-only DEPLOY_AGENT_TEST_KILL_AT) at the start
// of each step, and at the end of create and of start, each time during the deploy of a new
// release, and is started again with the next boundary armed. After each restart web and every
// role run one release (undone before the new one was routed, finished after), one container per
// role and no one-off left, a postdeploy the killed deploy had not reached runs once, and
// requests through the routing model never fail.
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

/** Where the daemon is killed, in order, and whether reconcile undoes that deploy (before the new release was routed) or finishes it. */
const CELLS = [
  { at: "resolve:start", undone: true },
  { at: "pull:start", undone: true },
  { at: "predeploy:start", undone: true },
  { at: "create:start", undone: true },
  { at: "create:end", undone: true },
  { at: "start:start", undone: true },
  { at: "start:end", undone: false },
  { at: "confirm:start", undone: false },
  { at: "drain:start", undone: false },
  { at: "stop:start", undone: false },
  { at: "postdeploy:start", undone: false },
  { at: "record:start", undone: false },
] as const;

describe("kill -9 in every step of a roles deploy", () => {
  it(`ends each time with web and every role on one release, one container per role, after kills at ${CELLS.map((c) => c.at).join(", ")}`, async () => {
    const dir = scope.dir();
    const steps = `\n    predeploy: { command: ["true"] }\n    postdeploy: { command: ["true"] }`;
    const roles = `\n    roles:\n      worker: { command: ${WORKER}, health: ${ALIVE} }\n      solo: { command: ${WORKER}, health: ${ALIVE}, overlap: false }`;
    writeConfig(dir, agentYaml(dir, storyApp(app, `127.0.0.1:5000/${repo}`, run, { settle: "3s" }) + steps + roles));
    const traefik = await startTraefikModel({ docker });
    try {
      await publishVersion({ repo, tag: "v1", behaviour: "good", version: "v1" });
      const v1 = (await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v1" })).digest;
      // The first deploy (v1) crosses the first boundary once; the kill is at its second crossing.
      let agent = scope.track(await startAgent(dir, { env: { DEPLOY_AGENT_TEST_KILL_AT: `${CELLS[0].at}:2` } }));
      const slotNames = (slot: string) => [`${app}-${slot}`, `${app}-solo-${slot}`, `${app}-worker-${slot}`];
      let slot = "blue";
      expect(await oneRelease(agent, v1)).toEqual(slotNames(slot));
      await waitFor(`${app} to serve`, () => traefik.servingContainer(`${app}.test`), 30_000);
      const loop = requestLoop(traefik.url, `${app}.test`);
      // What serves, and how to point the tag back at it.
      let live = { digest: v1, retag: (): Promise<unknown> => publishVersion({ repo, tag: "latest", behaviour: "good", version: "v1" }) };
      for (const [i, cell] of CELLS.entries()) {
        const variant = `kill-${i}`;
        const digest = await publishVariant({ repo, fromTag: "v1", tags: ["latest"], variant });
        await waitFor(`the daemon to be killed at ${cell.at}`, () => agent.lines.some((l) => l.includes("DEPLOY_AGENT_TEST_KILL_AT reached")), 60_000);
        // Undone: the tag goes back to what serves, so the restarted daemon's poll finds nothing new.
        if (cell.undone) await live.retag();
        agent = await restart(dir, agent, CELLS[i + 1] ? `${CELLS[i + 1]!.at}:1` : undefined);
        if (!cell.undone) {
          slot = slot === "blue" ? "green" : "blue";
          live = { digest, retag: () => publishVariant({ repo, fromTag: "v1", tags: ["latest"], variant }) };
        }
        expect(await oneRelease(agent, live.digest), cell.at).toEqual(slotNames(slot));
        if (!cell.undone) {
          // Finished at the restart: a postdeploy the deploy had not reached runs then; one it was killed in is not run again.
          const record = parsedState(agent).apps[app]!.history.find((r) => r.digest === digest)!;
          expect([cell.at, record.outcome, record.hooks?.postdeploy?.exitCode]).toEqual([cell.at, "succeeded", cell.at === "postdeploy:start" ? undefined : 0]);
        }
      }
      await waitFor(`${app} to serve from ${slot}`, () => traefik.servingContainer(`${app}.test`) === `${app}-${slot}` || undefined, 30_000);
      const seen = await loop.stop();
      expect(seen.ok).toBeGreaterThan(0);
      expect(seen.failed, `${JSON.stringify(seen.failed.slice(0, 5))}\n${traefik.history(`${app}.test`)}`).toEqual([]);
    } finally {
      await traefik.close();
    }
  }, 600_000);
});
