// The concurrency cell of the fault matrix: ten `agentctl deploy` and `rollback` of one app at
// once. Each gets a clear answer (it ran, or DEPLOY_LOCKED naming the deploy that runs); at the
// end one slot serves, no deploy is left running, nothing of the app is left over, and the pin
// and skip list are those of the last command that went through.
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RESULT_SCHEMAS } from "../../agent/control/protocol.js";
import { agentYaml, agentctl, appStatus, requestLoop, servedVersion, settledDeploy, startAgent, storyApp, waitFor, writeConfig, type AgentProcess, type CtlResult } from "../support/agent.js";
import { expectOneServing } from "../support/end-state.js";
import { TEST_REGISTRY, publishVersion, testRunId } from "../support/images.js";
import { storyScope } from "../support/story-scope.js";
import { startTraefikModel } from "../support/traefik-model.js";

const run = testRunId();
const app = `r8-conc-${run}`;
const repo = `stories/${app}`;
const docker = new Dockerode();
const scope = storyScope("r8-");

let agent: AgentProcess;
let traefik: Awaited<ReturnType<typeof startTraefikModel>>;
const digests: Record<string, string> = {};

const served = (): Promise<string | undefined> => servedVersion(traefik.url, `${app}.test`);

beforeAll(async () => {
  const dir = scope.dir();
  // Polled once a year: only the commands move the app.
  writeConfig(dir, agentYaml(dir, storyApp(app, `${TEST_REGISTRY}/${repo}`, run, { schedule: "0 0 1 1 *", settle: "3s" })));
  traefik = await startTraefikModel({ docker });
  for (const v of ["v1", "v2"]) {
    digests[v] = (await publishVersion({ repo, tag: v, behaviour: "good", version: v })).digest;
  }
  // The same image as v2, so the same digest.
  expect((await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v2" })).digest).toBe(digests.v2);
  agent = scope.track(await startAgent(dir));
  // The first poll at start deploys the tracked tag (v2); then v1 by hand, then the tracked tag
  // again: two releases kept, nothing pinned.
  const first = await settledDeploy(agent, app, 90_000);
  expect(first, JSON.stringify(first.error)).toMatchObject({ outcome: "succeeded", digest: digests.v2 });
  expect((await agentctl(agent, ["deploy", app, "v1"])).code).toBe(0);
  expect((await agentctl(agent, ["deploy", app])).code).toBe(0);
  await waitFor(`${app} to serve v2`, async () => (await served()) === "v2", 60_000);
}, 180_000);

afterAll(async () => {
  await traefik?.close();
  await scope.close();
});

type Command = { args: string[]; finishedAt?: number; result?: CtlResult };

describe("ten deploys and rollbacks of one app at once", () => {
  it("each gets a clear answer, one slot serves at the end, and the pin and skip list are the last successful command's", async () => {
    const loop = requestLoop(traefik.url, `${app}.test`);
    const commands: Command[] = [
      ...Array.from({ length: 4 }, () => ({ args: ["rollback", app] })),
      ...Array.from({ length: 3 }, () => ({ args: ["deploy", app] })),
      ...Array.from({ length: 3 }, () => ({ args: ["deploy", app, "v1"] })),
    ];
    await Promise.all(
      commands.map(async (c) => {
        c.result = await agentctl(agent, c.args, { json: true });
        c.finishedAt = performance.now();
      }),
    );

    const succeeded: Command[] = [];
    for (const c of commands) {
      const r = c.result!;
      const what = `agentctl ${c.args.join(" ")} exited ${r.code}: ${r.stdout.slice(-400)} ${r.stderr.slice(-400)}`;
      if (r.code === 0) {
        const outcome = RESULT_SCHEMAS.deploy.parse(r.json);
        expect(["succeeded", "unchanged"], what).toContain(outcome.outcome);
        succeeded.push(c);
      } else {
        // Busy: exit 3, DEPLOY_LOCKED, naming the deploy that runs and its step.
        expect(r.code, what).toBe(3);
        expect(r.stdout + r.stderr, what).toMatch(/DEPLOY_LOCKED/);
        expect(r.stdout + r.stderr, what).toMatch(/deploy of \S+ already running \(id \S+, \S+, step \w+\)/);
      }
    }
    expect(succeeded.length).toBeGreaterThan(0);

    const seen = await loop.stop();
    const end = await expectOneServing(agent, app, traefik.url, docker);

    const last = succeeded.sort((a, b) => a.finishedAt! - b.finishedAt!).at(-1)!;
    const outcome = RESULT_SCHEMAS.deploy.parse(last.result!.json);
    const s = await appStatus(agent, app);
    expect(s.live?.digest).toBe(outcome.digest);
    expect(end.serves).toBe(s.live?.digest === digests.v1 ? "v1" : "v2");
    if (last.args[0] === "rollback") {
      expect(s.pin).toMatchObject({ version: outcome.version, digest: outcome.digest });
      if (s.pin?.rolledBackFrom) expect(s.skip.map((e) => e.digest)).toContain(s.pin.rolledBackFrom.digest);
    } else if (last.args.length === 3) {
      expect(s.pin).toMatchObject({ version: "v1" });
    } else {
      expect(s.pin).toBeUndefined();
    }
    expect(s.running).toBeUndefined();
    expect(seen.failed, `${JSON.stringify(seen.failed.slice(0, 5))}; dropped by the routing model: ${JSON.stringify(traefik.table().dropped)}`).toEqual([]);
  }, 240_000);
});
