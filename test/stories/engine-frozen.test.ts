// The Engine stops answering (a hung dockerd), seen through a proxy socket only this agent uses:
// status still answers and says so, each deploy fails within docker.timeout naming the Engine and
// releases the app's lock, the digest is not skipped, and once the Engine answers the next poll deploys.
import { afterAll, describe, expect, it } from "vitest";
import { RESULT_SCHEMAS } from "../../agent/control/protocol.js";
import { agentctl, appStatus, deployHistory, settledDeploy, startAgent, storyApp, waitFor, writeConfig } from "../support/agent.js";
import { startEngineProxy, type EngineProxy } from "../support/engine-proxy.js";
import { publishVersion, testRunId } from "../support/images.js";
import { storyScope } from "../support/story-scope.js";

const run = testRunId();
const scope = storyScope("da-own-frz-");
let proxy: EngineProxy | undefined;

afterAll(async () => {
  await scope.close();
  await proxy?.close();
});

describe("an Engine that stops answering", () => {
  it("fails deploys naming the Engine, keeps status answering, and deploys by itself once the Engine answers again", async () => {
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

    // Two failed attempts at v2 in a row: the first released the lock and skipped nothing.
    const failures = await waitFor(
      "two deploys of v2 to fail",
      async () => {
        const tries = (await deployHistory(agent, app)).filter((r) => r.digest === v2.digest && r.outcome === "failed");
        return tries.length >= 2 ? tries : undefined;
      },
      90_000,
    );
    for (const f of failures) {
      expect(f.error?.code).toBe("ENGINE_UNAVAILABLE");
      expect(f.error?.message).toMatch(new RegExp(`^Docker Engine at ${proxy.socketPath} did not answer .+ within 3s$`));
    }

    const status = await agentctl(agent, ["status", app], { json: true });
    expect(status.code).toBe(0);
    const report = RESULT_SCHEMAS.status.parse(status.json);
    expect(report.engineError?.code).toBe("ENGINE_UNAVAILABLE");
    expect(report.apps[0]?.live?.version).toBe("latest");
    expect(report.apps[0]?.skip).toEqual([]);
    expect((await agentctl(agent, ["status", app])).stdout).toContain("engine: not answering (ENGINE_UNAVAILABLE: Docker Engine at");

    proxy.resume();
    await waitFor("v2 to go live", async () => (await appStatus(agent, app)).live?.digest === v2.digest, 90_000);
    expect((await appStatus(agent, app)).containers.map((c) => c.state)).toEqual(["running"]);
  });
});
