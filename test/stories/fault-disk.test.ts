// Fault matrix, state-disk cells: the state file's filesystem (a small tmpfs of its own) fills up
// or turns read-only before the switch, after the switch, and while idle. The deploy is not undone
// for it: the state is kept in memory, the log says once per episode that the file could not be
// written, `status` says so too, the file is written once the disk allows, and the next release
// deploys by itself. A steady request loop through the routing model sees no failure throughout.
// The cells of one fault share a daemon, an app and a disk, one after the other, each starting
// from the release the one before left serving (as registry-pull-faults.test.ts does); the two
// faults' lanes run at the same time. Needs root (mount).
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RESULT_SCHEMAS } from "../../agent/control/protocol.js";
import { State } from "../../agent/state/schema.js";
import { agentYaml, agentctl, appStatus, readState, requestLoop, servedVersion, settledDeploy, startAgent, storyApp, waitFor, writeConfig, type AgentProcess } from "../support/agent.js";
import { expectOneServing } from "../support/end-state.js";
import { publishVersion, testRunId } from "../support/images.js";
import { bursts, watchDropped } from "../support/serving-gaps.js";
import { mountStateDisk, type DiskFault, type StateDisk } from "../support/state-disk.js";
import { storyScope } from "../support/story-scope.js";
import { startTraefikModel } from "../support/traefik-model.js";

const run = testRunId();
const docker = new Dockerode();
const scope = storyScope("dk-disk-");

let traefik: Awaited<ReturnType<typeof startTraefikModel>>;

/** One fault's daemon, app and disk; its cells run one after the other (`turn`). */
interface Lane {
  app: string;
  host: string;
  repo: string;
  disk: StateDisk;
  agent: AgentProcess;
  release: number;
  /** The end of the cell before: the next one starts from what it left serving. */
  queue: Promise<unknown>;
}
const lanes = new Map<DiskFault, Lane>();

const served = (lane: Lane): Promise<string | undefined> => servedVersion(traefik.url, lane.host);

/** The daemon's lines from `from` on whose message is `msg` (the store's lines name the file, not an app). */
const logged = (lane: Lane, msg: string, from: number): string[] => lane.agent.lines.slice(from).filter((l) => l.includes(`"msg":"${msg}"`));

/**
 * The Docker health probes of the app's containers, for a failure message: a model that drops a
 * container as unhealthy drops it because these failed (a probe that times out on an overloaded
 * Engine counts as a failure, https://github.com/moby/moby/blob/v20.10.27/daemon/health.go).
 */
async function healthLogs(app: string): Promise<string> {
  const list = await docker.listContainers({ filters: { label: [`deploy-agent.app=${app}`] } });
  const seen = await Promise.all(list.map((c) => docker.getContainer(c.Id).inspect()));
  return seen.map((c) => `${c.Name} ${c.State.Health?.Status}: ${(c.State.Health?.Log ?? []).map((l) => `${l.Start} exit ${l.ExitCode} ${l.Output.trim().slice(0, 60)}`).join(" | ")}`).join("\n");
}

async function openLane(fault: DiskFault): Promise<Lane> {
  const app = `dk-disk-${fault === "full" ? "full" : "ro"}-${run}`;
  const repo = `stories/${app}`;
  const disk = mountStateDisk("dk-state-");
  const dir = scope.dir();
  // settle 3s leaves room for the routing model's 2 s reload throttle on a busy host; drain 3s is
  // long enough to see the deploy in it and break the disk there.
  const yaml = agentYaml(dir, storyApp(app, `127.0.0.1:5000/${repo}`, run, { settle: "3s", drain: "3s" }));
  writeConfig(dir, yaml.replace(`state: ${dir}/state.json`, `state: ${disk.statePath}`));
  await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v1" });
  const agent = scope.track(await startAgent(dir, { statePath: disk.statePath }));
  const lane: Lane = { app, host: `${app}.test`, repo, disk, agent, release: 1, queue: Promise.resolve() };
  await waitFor(`${app} to serve v1`, async () => (await served(lane)) === "v1", 90_000);
  await settledDeploy(agent, app);
  return lane;
}

beforeAll(async () => {
  traefik = await startTraefikModel({ docker });
  const opened = await Promise.all((["full", "read-only"] as const).map(async (fault) => [fault, await openLane(fault)] as const));
  for (const [fault, lane] of opened) lanes.set(fault, lane);
}, 150_000);

afterAll(async () => {
  await traefik?.close();
  await scope.close();
  for (const lane of lanes.values()) lane.disk.close();
});

/** Runs `body` once the lane's cell before it has ended, pass or fail. */
function inTurn(lane: Lane, body: () => Promise<void>): Promise<void> {
  const mine = lane.queue.then(body, body);
  lane.queue = mine.catch(() => undefined);
  return mine;
}

const cells: { fault: DiskFault; when: "before the switch" | "after the switch" | "while idle" }[] = [
  { fault: "full", when: "before the switch" },
  { fault: "full", when: "after the switch" },
  { fault: "full", when: "while idle" },
  { fault: "read-only", when: "before the switch" },
  { fault: "read-only", when: "after the switch" },
  { fault: "read-only", when: "while idle" },
];

describe.concurrent("the state file's filesystem full or read-only", () => {
  for (const { fault, when } of cells) {
    it(`keeps the deploy when the state disk is ${fault} ${when}, says so once, writes the state once the disk allows, and deploys the next release`, () => {
      const lane = lanes.get(fault)!;
      return inTurn(lane, () => cell(lane, fault, when));
    }, 3 * 180_000);
  }
});

/** One cell: the disk breaks at `when` with `fault`, heals, and the deploy and the next one stand. */
async function cell(lane: Lane, fault: DiskFault, when: "before the switch" | "after the switch" | "while idle"): Promise<void> {
  const { app, host, repo, disk, agent } = lane;
  const from = agent.lines.length;
  const version = `v${++lane.release}`;
  const loop = requestLoop(traefik.url, host);
  const dropped = watchDropped(traefik, app);
  let digest: string;
  try {
    if (when === "while idle") {
      disk.break(fault);
      digest = (await publishVersion({ repo, tag: "latest", behaviour: "good", version })).digest;
    } else {
      // Before the switch: while the new release starts (it takes 3 s to serve). After: in the
      // drain, once Traefik routes to it; the commit point's write is the first to fail.
      const before = when === "before the switch";
      digest = (await publishVersion({ repo, tag: "latest", behaviour: before ? "slow" : "good", version, ...(before ? { delaySec: 3 } : {}) })).digest;
      const step = before ? "start" : "drain";
      await waitFor(`the deploy of ${version} to be in ${step}`, async () => (await appStatus(agent, app)).running?.step === step, 60_000, 100);
      disk.break(fault);
    }
    await waitFor("the failed write to be logged", () => logged(lane, "state file could not be written", from).length > 0, 60_000);
    const during = RESULT_SCHEMAS.status.parse((await agentctl(agent, ["status", app], { json: true })).json);
    expect(during.stateWrite?.message).toContain(`could not write state file ${disk.statePath}`);
    expect((await agentctl(agent, ["status", app])).stdout).toMatch(/^state file: not written since .*: could not write state file /m);
    // The file on disk stays the last complete version while the disk refuses.
    expect(State.safeParse(readState(agent)).success).toBe(true);

    await waitFor(`${version} to serve`, async () => (await served(lane)) === version, 90_000);
    expect(await settledDeploy(agent, app)).toMatchObject({ outcome: "succeeded", version: "latest", digest });
  } finally {
    disk.heal(fault);
  }
  await waitFor("the state file to be written again", () => logged(lane, "state file written again", from).length > 0, 30_000);
  // One line for the whole episode, however many writes failed in it.
  expect(logged(lane, "state file could not be written", from)).toHaveLength(1);
  expect(RESULT_SCHEMAS.status.parse((await agentctl(agent, ["status", app], { json: true })).json).stateWrite).toBeUndefined();
  // The file tells the truth now: the deploy succeeded and its release is live, not skipped.
  const written = State.parse(readState(agent)).apps[app]!;
  expect(written.live?.digest).toBe(digest);
  expect(written.history.find((r) => r.digest === digest)?.outcome).toBe("succeeded");
  expect(written.skip.map((e) => e.digest)).not.toContain(digest);

  // The agent goes on by itself: the next push deploys on the next poll.
  const next = `v${++lane.release}`;
  await publishVersion({ repo, tag: "latest", behaviour: "good", version: next });
  await waitFor(`${next} to serve`, async () => (await served(lane)) === next, 90_000);
  expect(await settledDeploy(agent, app)).toMatchObject({ outcome: "succeeded" });

  const seen = await loop.stop();
  dropped.stop();
  const end = await expectOneServing(agent, app, traefik.url, docker);
  expect(end.serves).toBe(next);
  const gaps = bursts(seen.failed).map((b) => `${b.count} from ${new Date(b.from).toISOString()} (${[...b.kinds.keys()].join("; ")}); model dropped: ${dropped.between(b.from - 3000, b.to).join(" | ")}`);
  expect(seen.failed.length, `${gaps.join("\n")}\n${seen.failed.length > 0 ? `${await healthLogs(app)}\n${traefik.history(host)}` : ""}`).toBe(0);
}
