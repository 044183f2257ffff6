// The agent touches only what it made: a container someone else put in one of an app's slot names,
// or another agent's app of the same name on the same Engine, is never stopped, removed or replaced,
// neither by a deploy nor by reconcile at start. The deploy fails with CONTAINER_CONFLICT instead,
// and status shows the conflict.
import Dockerode from "dockerode";
import { afterAll, describe, expect, it } from "vitest";
import { agentctl, appStatus, type AgentProcess, agentYaml, settledDeploy, startAgent, storyApp, writeConfig } from "../support/agent.js";
import { TEST_RUN_LABEL, fixtureImage, publishVersion, testRunId } from "../support/images.js";
import { storyScope } from "../support/story-scope.js";

const run = testRunId();
const docker = new Dockerode();
const scope = storyScope("da-own-");

afterAll(() => scope.close());

async function agentFor(app: string): Promise<AgentProcess> {
  const dir = scope.dir();
  writeConfig(dir, agentYaml(dir, storyApp(app, `127.0.0.1:5000/stories/${app}`, run)));
  return scope.track(await startAgent(dir));
}

async function restart(agent: AgentProcess): Promise<AgentProcess> {
  await agent.stop();
  return scope.track(await startAgent(agent.dir));
}

async function state(id: string): Promise<{ running: boolean; name: string }> {
  const info = await docker.getContainer(id).inspect();
  return { running: info.State.Running, name: info.Name.replace(/^\//, "") };
}

describe("containers the agent did not create", () => {
  it("fails the deploy with CONTAINER_CONFLICT when someone else's container holds the app's slot name, leaves it running, and shows the conflict", async () => {
    const app = `own-web-${run}`;
    await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "good", version: "v1" });
    const theirs = await docker.createContainer({
      name: `${app}-blue`,
      Image: await fixtureImage(docker, "good", "theirs"),
      Labels: { [TEST_RUN_LABEL]: run },
      HostConfig: { Init: true },
    });
    await theirs.start();

    let agent = await agentFor(app);
    const failed = await settledDeploy(agent, app);

    expect(failed.outcome).toBe("failed");
    expect(failed.error?.code).toBe("CONTAINER_CONFLICT");
    expect(failed.error?.message).toContain(`container ${app}-blue (${theirs.id.slice(0, 12)}, running) holds the name the agent needs for ${app}`);
    expect(await state(theirs.id)).toEqual({ running: true, name: `${app}-blue` });
    expect((await appStatus(agent, app)).conflicts).toEqual([{ name: `${app}-blue`, id: theirs.id.slice(0, 12), state: "running", reason: "not created by deploy-agent" }]);
    const text = await agentctl(agent, ["status", app]);
    expect(text.stdout).toMatch(new RegExp(`conflict +container ${app}-blue \\(${theirs.id.slice(0, 12)}, running\\) is not created by deploy-agent`));

    // Reconcile at start leaves it alone too.
    agent = await restart(agent);
    expect(await state(theirs.id)).toEqual({ running: true, name: `${app}-blue` });
    expect((await appStatus(agent, app)).containers).toEqual([]);
  });

  it("leaves another agent's app of the same name alone: its reconcile and its deploy never touch the first agent's container", async () => {
    const app = `own-two-${run}`;
    await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "good", version: "v1" });
    const first = await agentFor(app);
    expect((await settledDeploy(first, app)).outcome).toBe("succeeded");
    const served = (await appStatus(first, app)).containers;
    expect(served.map((c) => [c.name, c.state])).toEqual([[`${app}-blue`, "running"]]);
    const blueId = (await docker.getContainer(`${app}-blue`).inspect()).Id;

    let second = await agentFor(app);
    const refused = await settledDeploy(second, app);
    expect(refused.error?.code).toBe("CONTAINER_CONFLICT");
    expect(refused.error?.message).toContain("created by another deploy-agent (another state file)");
    second = await restart(second);

    expect(await state(blueId)).toEqual({ running: true, name: `${app}-blue` });
    expect((await appStatus(first, app)).containers.map((c) => [c.name, c.state])).toEqual([[`${app}-blue`, "running"]]);
    expect((await appStatus(second, app)).containers).toEqual([]);
  });
});
