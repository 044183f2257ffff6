// An image pushed to a tracked tag cannot steer routing or pose as the agent: one that carries
// traefik.* or deploy-agent.* labels is refused before green is made, the previous release keeps
// serving, and across a restart the live container stays visible in status and is not removed.
import Dockerode from "dockerode";
import { afterAll, describe, expect, it } from "vitest";
import { AGENT_LABELS } from "../../agent/labels.js";
import { appStatus, agentYaml, deployHistory, settledDeploy, startAgent, storyApp, waitFor, writeConfig } from "../support/agent.js";
import { publishVersion, testRunId } from "../support/images.js";
import { publishLabelled } from "../support/labelled-image.js";
import { storyScope } from "../support/story-scope.js";

const run = testRunId();
const docker = new Dockerode();
const scope = storyScope("da-own-img-");

afterAll(() => scope.close());

async function appContainers(app: string): Promise<{ id: string; name: string; running: boolean }[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`${AGENT_LABELS.app}=${app}`] } });
  return list.map((c) => ({ id: c.Id, name: c.Names[0]!.replace(/^\//, ""), running: c.State === "running" }));
}

describe("an image with routing or agent labels on the tracked tag", () => {
  it("is refused with IMAGE_REFUSED naming the labels; the live release keeps serving, visible and in place across a restart", async () => {
    const app = `own-img-${run}`;
    const dir = scope.dir();
    writeConfig(dir, agentYaml(dir, storyApp(app, `127.0.0.1:5000/stories/${app}`, run)));
    const v1 = await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "good", version: "v1" });
    let agent = scope.track(await startAgent(dir));
    expect((await settledDeploy(agent, app)).outcome).toBe("succeeded");
    const live = await appContainers(app);
    expect(live.map((c) => [c.name, c.running])).toEqual([[`${app}-blue`, true]]);

    const v2 = await publishLabelled({
      repo: `stories/${app}`,
      tag: "latest",
      version: "v2",
      labels: {
        "Traefik.http.routers.steal.rule": "Host(`bank.test`)",
        "traefik.http.routers.steal.priority": "2147483647",
        "deploy-agent.role": "probe",
        "org.opencontainers.image.title": "harmless metadata",
      },
    });
    const refused = await waitFor("the labelled digest to be refused", async () => (await deployHistory(agent, app)).find((r) => r.digest === v2.digest && r.outcome !== "running"), 60_000);

    expect(refused.outcome).toBe("failed");
    expect(refused.error?.code).toBe("IMAGE_REFUSED");
    expect(refused.error?.message).toContain(
      "carries labels only agent.yaml may set: Traefik.http.routers.steal.rule, deploy-agent.role, traefik.http.routers.steal.priority; it was not deployed",
    );
    const status = await appStatus(agent, app);
    expect(status.live?.digest).toBe(v1.digest);
    expect(status.skip.map((s) => s.digest)).toContain(v2.digest);
    expect(status.containers.map((c) => [c.name, c.state])).toEqual([[`${app}-blue`, "running"]]);
    expect(await appContainers(app)).toEqual(live);

    await agent.stop();
    agent = scope.track(await startAgent(dir));

    expect(await appContainers(app)).toEqual(live);
    const after = await appStatus(agent, app);
    expect(after.live?.digest).toBe(v1.digest);
    expect(after.containers.map((c) => [c.name, c.state])).toEqual([[`${app}-blue`, "running"]]);
  });
});
