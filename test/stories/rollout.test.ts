// Stories of one app on a real Engine and a real registry, judged through the Traefik model:
// a push rolls out with no failed request, bad releases never replace a good one, and pins and
// rollbacks stick.
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { State } from "../../agent/state/schema.js";
import { agentctl, appStatus, deployHistory, makeAgentDir, readState, removeDir, requestLoop, servedVersion, startAgent, waitFor, writeConfig, sleep, type AgentProcess } from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { TEST_RUN_LABEL, publishVersion, removeLocalImages, testRunId } from "../support/images.js";
import { startTraefikModel } from "../support/traefik-model.js";

const run = testRunId();
const app = `web-${run}`;
const repo = `stories/${app}`;
const host = `${app}.test`;
const docker = new Dockerode();

let agent: AgentProcess;
let traefik: Awaited<ReturnType<typeof startTraefikModel>>;
let dir: string;

function config(): string {
  return `
state: ${dir}/state.json
socket: ${dir}/agent.sock
apps:
  ${app}:
    image: 127.0.0.1:5000/${repo}
    track: latest
    schedule: "*/2 * * * * *"
    port: 8000
    health:
      path: /health
      startTimeout: 8s
    route:
      rule: Host(\`${host}\`)
      entrypoints: [web]
      network: da-net-${run}
    drain: 2s
    settle: 3s
    stopTimeout: 5s
    keep: 5
    labels:
      ${TEST_RUN_LABEL}: "${run}"
`;
}

const serving = () => servedVersion(traefik.url, host);

async function appContainers(): Promise<Dockerode.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`deploy-agent.app=${app}`] } });
}

const history = () => deployHistory(agent, app);

async function idle(): Promise<void> {
  await waitFor("no deploy running", async () => (await appStatus(agent, app)).running === undefined);
}

beforeAll(async () => {
  dir = makeAgentDir();
  writeConfig(dir, config());
  traefik = await startTraefikModel({ docker });
  await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v1" });
  await removeLocalImages(repo);
  agent = await startAgent(dir);
});

afterAll(async () => {
  await agent?.stop();
  await traefik?.close();
  await cleanupTestRun();
  if (dir) removeDir(dir);
});

describe("a single app tracking latest", () => {
  it("deploys the tracked tag at start and serves it through Traefik's rules", async () => {
    await waitFor("v1 to serve", async () => (await serving()) === "v1");
    await idle();
    const h = await history();
    expect(h[0]).toMatchObject({ trigger: "poll", version: "latest", outcome: "succeeded" });
    const running = (await appContainers()).filter((c) => c.State === "running");
    expect(running.map((c) => c.Names[0])).toEqual([`/${app}-blue`]);
  });

  it("rolls a push to the tracked tag out within one poll with zero failed requests", async () => {
    await idle();
    const loop = requestLoop(traefik.url, host, 10);
    await sleep(500);
    const pushed = await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v2" });
    const pushedAt = Date.now();
    await waitFor("v2 to serve", async () => (await serving()) === "v2", 60_000);
    await idle();
    await sleep(500);
    const seen = await loop.stop();

    expect(seen.failed, traefik.history(host)).toEqual([]);
    expect(seen.ok).toBeGreaterThan(50);
    const firstV2 = seen.bodies.findIndex((b) => b.body === "v2");
    expect(firstV2).toBeGreaterThan(0);
    // After the switch only v2 answers.
    expect(seen.bodies.slice(firstV2).every((b) => b.body === "v2")).toBe(true);
    const h = await history();
    expect(h[0]).toMatchObject({ trigger: "poll", outcome: "succeeded", digest: pushed.digest });
    // Picked up by the first poll after the push: polls fire on every even second, and the deploy
    // began at the first such tick after the push finished.
    const startedAt = Date.parse((h[0] as unknown as { startedAt: string }).startedAt);
    expect(Math.floor(startedAt / 2000) - Math.floor(pushedAt / 2000)).toBeLessThanOrEqual(1);
    const running = (await appContainers()).filter((c) => c.State === "running");
    expect(running.map((c) => c.Names[0])).toEqual([`/${app}-green`]);
  });

  for (const behaviour of ["never-healthy", "crash"] as const) {
    it(`keeps blue serving when green is ${behaviour} and does not retry the digest on the next poll`, async () => {
      await idle();
      const before = await history();
      const bad = await publishVersion({ repo, tag: "latest", behaviour, version: `v-${behaviour}` });
      const failed = await waitFor(
        "the deploy to fail",
        async () => (await history()).find((r) => r.digest === bad.digest && r.outcome === "failed"),
        60_000,
      );
      expect(failed.error?.code).toBe(behaviour === "crash" ? "GREEN_EXITED" : "GREEN_UNHEALTHY");
      // The message calls green "the new release"; the slot name stays only in the container's name.
      expect(failed.error?.message).toMatch(new RegExp(`^the new release ${app}-blue \\(latest, [a-f0-9]{12}\\) `));
      if (behaviour === "crash") expect(failed.error?.hint).toBe(`run the image by hand to see why it stops: docker run --rm 127.0.0.1:5000/${repo}@${bad.digest}`);
      expect(await serving()).toBe("v2");
      const names = (await appContainers()).map((c) => `${c.Names[0]} ${c.State}`);
      expect(names).toEqual([`/${app}-green running`]);
      // Three more polls go by; the failed digest is not deployed again.
      await sleep(6_000);
      const after = await history();
      expect(after.filter((r) => r.digest === bad.digest)).toHaveLength(1);
      expect(after.length).toBe(before.length + 1);
      const st = await agentctl(agent, ["status", app], { json: true });
      const status = st.json as { apps: { skip: { digest: string; reason: string }[] }[] };
      expect(status.apps[0]?.skip[0]).toMatchObject({ digest: bad.digest, reason: "failed" });
    });
  }

  it("pins a version deployed by hand, and a rollback pins too and is not undone by the poller after resume", async () => {
    await idle();
    await publishVersion({ repo, tag: "v1.0.0", behaviour: "good", version: "v1.0.0" });
    const dep = await agentctl(agent, ["deploy", app, "v1.0.0"]);
    expect(dep.code, dep.stderr + dep.stdout).toBe(0);
    expect(await serving()).toBe("v1.0.0");
    let st = (await agentctl(agent, ["status", app], { json: true })).json as { apps: { paused: boolean; pin?: { version: string } }[] };
    expect(st.apps[0]).toMatchObject({ paused: true, pin: { version: "v1.0.0" } });

    // A push to the tracked tag does not move a pinned app.
    const v3 = await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v3" });
    const chk = await agentctl(agent, ["check", app], { json: true });
    expect((chk.json as { result: string }[])[0]?.result).toBe("paused");
    await sleep(4_000);
    expect(await serving()).toBe("v1.0.0");

    // Resume: the poller deploys the tracked tag.
    const res = await agentctl(agent, ["resume", app]);
    expect(res.code, res.stderr).toBe(0);
    await waitFor("v3 to serve", async () => (await serving()) === "v3", 60_000);
    await idle();

    // Rollback goes to the previous release, v1.0.0, from the image still on the host.
    const rb = await agentctl(agent, ["rollback", app]);
    expect(rb.code, rb.stderr + rb.stdout).toBe(0);
    expect(await serving()).toBe("v1.0.0");
    const h = await history();
    expect(h[0]).toMatchObject({ trigger: "rollback", version: "v1.0.0", outcome: "succeeded" });
    expect(h[0]!.error).toBeUndefined();

    // The rollback pins the app to v1.0.0; once resumed, the poller sees v3 still on latest and
    // leaves the rollback in place.
    const pinned = await agentctl(agent, ["check", app], { json: true });
    expect((pinned.json as { result: string }[])[0]?.result).toBe("paused");
    expect((await agentctl(agent, ["resume", app])).code).toBe(0);
    await sleep(6_000);
    expect(await serving()).toBe("v1.0.0");
    const chk2 = await agentctl(agent, ["check", app], { json: true });
    expect((chk2.json as { result: string; digest: string }[])[0]).toMatchObject({ result: "skipped", digest: v3.digest });

    // A new push deploys as usual.
    await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v4" });
    await waitFor("v4 to serve", async () => (await serving()) === "v4", 60_000);
    st = (await agentctl(agent, ["status", app], { json: true })).json as typeof st;
    expect(st.apps[0]?.paused).toBe(false);
  });

  it("leaves a state file that validates against its schema", () => {
    const parsed = State.safeParse(readState(agent));
    expect(parsed.success, parsed.success ? "" : JSON.stringify(parsed.error.issues)).toBe(true);
  });
});
