// The fault matrix's "the new release becomes unhealthy or exits, during confirm and during drain".
// From the end of start the new release is routed, and the commit point is the end of drain, so
// the previous release still runs: the deploy is undone back to it. The new release's own fault
// (GREEN_UNHEALTHY, GREEN_EXITED) skips its digest, the next poll does not deploy it again, and
// the next good release deploys by itself. The host is busy (another container restarts all the
// time), so the routing model, like Traefik, drops the failed release only at its next reload, up
// to its 2 s throttle late. The cells run at once, one app each, on one daemon.
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, it } from "vitest";
import { agentYaml, appStatus, loggedLines, readState, requestLoop, settledDeploy, startAgent, storyApp, waitFor, writeConfig, type AgentProcess } from "../support/agent.js";
import { eventNoise, exitRelease, failHealth, faultyRelease, nextEvent, type EventNoise } from "../support/container-faults.js";
import { expectOneServing } from "../support/end-state.js";
import { publishVariant } from "../support/image-variant.js";
import { publishVersion, testRunId } from "../support/images.js";
import { storyScope } from "../support/story-scope.js";
import { bursts, watchDropped } from "../support/serving-gaps.js";
import { startTraefikModel, type TraefikModel } from "../support/traefik-model.js";

type Fault = "unhealthy" | "exits";
type During = "confirm" | "drain";
const cells: { fault: Fault; during: During }[] = [
  { fault: "unhealthy", during: "confirm" },
  { fault: "unhealthy", during: "drain" },
  { fault: "exits", during: "confirm" },
  { fault: "exits", during: "drain" },
];
const CODE: Record<Fault, string> = { unhealthy: "GREEN_UNHEALTHY", exits: "GREEN_EXITED" };

const run = testRunId();
const appOf = (c: { fault: Fault; during: During }) => `cf-${c.fault}-${c.during}-${run}`;
const docker = new Dockerode();
const scope = storyScope("cf-");

let agent: AgentProcess;
let traefik: TraefikModel;
let noise: EventNoise;

/** Waits until the running deploy of `app` is in `step`, read from the state file the daemon writes. */
async function inStep(app: string, step: string): Promise<string> {
  return waitFor(`the deploy of ${app} to reach ${step}`, () => {
    const s = readState(agent) as { apps?: Record<string, { history: { id: string; outcome: string; steps: { name: string; endedAt?: string }[] }[] }> } | undefined;
    const r = s?.apps?.[app]?.history[0];
    const last = r?.steps.at(-1);
    return r?.outcome === "running" && last?.name === step && last.endedAt === undefined ? r.id : undefined;
  }, 120_000, 50);
}

beforeAll(async () => {
  const dir = scope.dir();
  // Docker needs three failed checks (interval 1 s, each taking seconds on a loaded host) to call
  // the new release unhealthy, inside settle or drain; settle also waits out the model's throttle.
  writeConfig(dir, agentYaml(dir, ...cells.map((c) => storyApp(appOf(c), `127.0.0.1:5000/stories/${appOf(c)}`, run, { settle: "12s", drain: "12s" }))));
  traefik = await startTraefikModel({ docker });
  for (const c of cells) {
    await publishVersion({ repo: `stories/${appOf(c)}`, tag: "v1", behaviour: "good", version: "v1" });
    await publishVersion({ repo: `stories/${appOf(c)}`, tag: "latest", behaviour: "good", version: "v1" });
  }
  agent = scope.track(await startAgent(dir));
  for (const c of cells) {
    const app = appOf(c);
    await waitFor(`${app} to serve`, async () => traefik.servingContainer(`${app}.test`) !== undefined && (await appStatus(agent, app)).live !== undefined, 120_000);
  }
  noise = await eventNoise(`cf-noise-${run}`);
}, 240_000);

afterAll(async () => {
  await noise?.stop();
  await traefik?.close();
  await scope.close();
});

describe.concurrent("the new release fails while it is routed", () => {
  for (const cell of cells) {
    const app = appOf(cell);
    const repo = `stories/${app}`;
    const host = `${app}.test`;
    it(`undoes the deploy when the new release ${cell.fault === "unhealthy" ? "turns unhealthy" : "exits"} during ${cell.during}: the previous release serves again, the record says failed, polling skips the digest, and the next good release deploys`, async ({ expect }) => {
      const before = await appStatus(agent, app);
      const blue = `${app}-${before.live!.slot}`;
      const green = `${app}-${before.live!.slot === "blue" ? "green" : "blue"}`;
      const from = agent.lines.length;
      const loop = requestLoop(traefik.url, host);
      const drops = watchDropped(traefik, app);
      const digest = await faultyRelease(repo, "v1", ["latest"], `${cell.fault}-${cell.during}`);

      const deployId = await inStep(app, cell.during);
      // Green is routed: the routing model sends it the requests before the fault.
      await traefik.waitForServing(host, green, 10_000);
      const watching = new AbortController();
      const died = cell.fault === "exits" ? nextEvent(docker, green, "die", watching.signal) : undefined;
      // When the routing model stops sending requests to green: its reload after the fault.
      const dropped = waitFor("the routing model to drop the new release", () => (traefik.servingContainer(host) === green ? undefined : Date.now()), 120_000, 20);
      const faultAt = Date.now();
      if (cell.fault === "unhealthy") await failHealth(docker, green);
      else await exitRelease(docker, green);

      const record = await settledDeploy(agent, app, 120_000);
      const droppedAt = await dropped;
      const diedAt = await died;
      watching.abort();
      expect(record, JSON.stringify(record)).toMatchObject({ id: deployId, outcome: "failed", digest, error: { code: CODE[cell.fault] } });
      // The record failed in the step the fault came in, and that step has an end.
      expect(record.steps.at(-1)).toMatchObject({ name: cell.during });
      expect(record.steps.at(-1)!.endedAt).toBeDefined();
      await traefik.waitForServing(host, blue, 10_000);

      // The next poll finds the digest and does not deploy it again.
      await waitFor("a poll to skip the failed digest", () => loggedLines(agent, "digest skipped: not redeployed by polling", app, from).some((l) => l.digest === digest), 30_000);
      const after = await appStatus(agent, app);
      expect(after.skip.map((e) => e.digest)).toContain(digest);
      expect(after.live).toEqual(before.live);
      expect((await expectOneServing(agent, app, traefik.url, docker)).running).toBe(blue);

      const seen = await loop.stop();
      drops.stop();
      const why = JSON.stringify({ faultAt, diedAt, droppedAt, bursts: bursts(seen.failed).map((b) => ({ ...b, kinds: [...b.kinds], dropped: drops.between(b.from - 3000, b.to) })) });
      expect(seen.ok).toBeGreaterThan(0);
      if (cell.fault === "unhealthy") {
        // Green kept serving until the routing model dropped it, and was stopped only after.
        expect(seen.failed, why).toEqual([]);
      } else {
        // A release that dies takes the requests routed to it with it: the one in flight when the
        // test told it to exit (the loop sends one at a time, so the last one started before
        // faultAt), and those routed to it until the routing model's reload after the die event
        // (droppedAt, up to its 2 s throttle after diedAt). No request may fail outside that window.
        expect(diedAt!).toBeLessThanOrEqual(droppedAt);
        const inFlight = Math.max(0, ...[...seen.bodies, ...seen.failed].map((r) => r.at).filter((at) => at <= faultAt));
        const outside = seen.failed.filter((f) => f.at < inFlight || f.at > droppedAt);
        expect(outside, why).toEqual([]);
      }

      // The agent goes on: the next good release deploys by itself, with no request failing.
      const next = requestLoop(traefik.url, host);
      const good = await publishVariant({ repo, fromTag: "v1", tags: ["latest"], variant: `good-after-${cell.fault}-${cell.during}` });
      await waitFor("the good release to be live", async () => (await appStatus(agent, app)).live?.digest === good, 120_000);
      expect(await settledDeploy(agent, app)).toMatchObject({ outcome: "succeeded", digest: good });
      expect((await expectOneServing(agent, app, traefik.url, docker)).running).toBe(green);
      await traefik.waitForServing(host, green, 10_000);
      expect((await next.stop()).failed).toEqual([]);
    }, 360_000);
  }
});
