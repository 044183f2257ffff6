// The Engine stops answering (a hung dockerd), seen through a proxy socket only this agent uses:
// status still answers and says so, the deploy fails within docker.timeout naming the Engine and
// releases the app's lock, the digest is not skipped, the agent says once that the Engine is gone
// and waits for it, and once the Engine answers it says so and deploys by itself.
import { afterAll, describe, expect, it } from "vitest";
import { RESULT_SCHEMAS } from "../../agent/control/protocol.js";
import { agentctl, appStatus, deployHistory, settledDeploy, startAgent, storyApp, waitFor, writeConfig } from "../support/agent.js";
import { startEngineProxy, type EngineProxy } from "../support/engine-proxy.js";
import { publishVersion, testRunId } from "../support/images.js";
import { storyScope } from "../support/story-scope.js";

const run = testRunId();
const GONE = "Docker Engine is not answering; deploys wait until it is back";
const BACK = "Docker Engine is back";

/** How many of the daemon's log lines from `from` on have message `msg`. */
function loggedAny(agent: { lines: string[] }, msg: string, from: number): number {
  return agent.lines.slice(from).filter((l) => l.includes(`"msg":${JSON.stringify(msg)}`)).length;
}
const scope = storyScope("da-own-frz-");
let proxy: EngineProxy | undefined;

afterAll(async () => {
  await scope.close();
  await proxy?.close();
});

describe("an Engine that stops answering", () => {
  it("fails the deploy naming the Engine, keeps status answering, waits for the Engine with one warning, and deploys by itself once it answers again", async () => {
    const app = `own-frz-${run}`;
    proxy = await startEngineProxy();
    const dir = scope.dir();
    writeConfig(
      dir,
      `state: ${dir}/state.json
socket: ${dir}/agent.sock
docker: { socket: ${proxy.socketPath}, timeout: 3s }
apps:${storyApp(app, `127.0.0.1:5000/stories/${app}`, run)}
`,
    );
    await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "good", version: "v1" });
    const agent = scope.track(await startAgent(dir));
    expect((await settledDeploy(agent, app)).outcome).toBe("succeeded");

    proxy.freeze();
    const v2 = await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "good", version: "v2" });

    // The deploy of v2 fails naming the Engine; the agent then says once that the Engine is gone and
    // waits for it instead of failing a deploy at every poll.
    const from = agent.lines.length;
    const failure = await waitFor(
      "the deploy of v2 to fail",
      async () => (await deployHistory(agent, app)).find((r) => r.digest === v2.digest && r.outcome === "failed"),
      90_000,
    );
    expect(failure.error?.code).toBe("ENGINE_UNAVAILABLE");
    expect(failure.error?.message).toMatch(new RegExp(`^Docker Engine at ${proxy.socketPath} did not answer .+ within 3s$`));
    await waitFor("the agent to say the Engine is gone", () => loggedAny(agent, GONE, from) > 0, 60_000);

    const status = await agentctl(agent, ["status", app], { json: true });
    expect(status.code).toBe(0);
    const report = RESULT_SCHEMAS.status.parse(status.json);
    expect(report.engineError?.code).toBe("ENGINE_UNAVAILABLE");
    expect(report.apps[0]?.live?.version).toBe("latest");
    expect(report.apps[0]?.skip).toEqual([]);
    expect(report.apps[0]?.running).toBeUndefined();
    expect((await agentctl(agent, ["status", app])).stdout).toContain("engine: not answering (ENGINE_UNAVAILABLE: Docker Engine at");

    proxy.resume();
    await waitFor("v2 to go live", async () => (await appStatus(agent, app)).live?.digest === v2.digest, 90_000);
    expect([loggedAny(agent, GONE, from), loggedAny(agent, BACK, from)]).toEqual([1, 1]);
    // Live at the commit point, before the stop step removes the previous release.
    expect(await settledDeploy(agent, app)).toMatchObject({ digest: v2.digest, outcome: "succeeded" });
    expect((await appStatus(agent, app)).containers.map((c) => c.state)).toEqual(["running"]);
  });
});
