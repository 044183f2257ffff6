// A rollback and the pin agree: after `deploy v1.1.0` and `rollback`, the app is pinned to the
// release it went back to, status says so in one line, and once polling resumes status says in
// words why the tracked tag's digest is not deployed. Asserted on agentctl's text output.
import { afterAll, describe, expect, it } from "vitest";
import { agentctl, agentYaml, deployHistory, startAgent, storyApp, writeConfig, type AgentProcess } from "../support/agent.js";
import { publishVersion, testRunId } from "../support/images.js";
import { storyScope } from "../support/story-scope.js";

const run = testRunId();
const app = `wd-pin-${run}`;
const repo = `stories/${app}`;
const scope = storyScope("da-wd-pin-");

afterAll(() => scope.close());

async function statusText(agent: AgentProcess): Promise<string> {
  const r = await agentctl(agent, ["status", app]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout;
}

async function ok(agent: AgentProcess, args: string[]): Promise<string> {
  const r = await agentctl(agent, args);
  expect(r.code, `agentctl ${args.join(" ")}:\n${r.stdout}${r.stderr}`).toBe(0);
  return r.stdout;
}

describe("deploy v1.1.0 by hand, then rollback", () => {
  it("pins the app to the release it went back to and says why the tracked tag is not deployed", async () => {
    const dir = scope.dir();
    // Polls only when asked (agentctl check): every step below is one a person takes.
    writeConfig(dir, agentYaml(dir, storyApp(app, `127.0.0.1:5000/${repo}`, run, { schedule: "0 0 1 1 *" })));
    await publishVersion({ repo, tag: "v1.0.0", behaviour: "good", version: "v1.0.0" });
    const v11 = await publishVersion({ repo, tag: "v1.1.0", behaviour: "good", version: "v1.1.0" });
    const agent = scope.track(await startAgent(dir));

    await ok(agent, ["deploy", app, "v1.0.0"]);
    await ok(agent, ["deploy", app, "v1.1.0"]);
    expect(await statusText(agent)).toContain("paused: pinned to v1.1.0 since");

    const rb = await ok(agent, ["rollback", app]);
    expect(rb).toMatch(/succeeded: v1\.0\.0 \(sha256:[a-f0-9]{12}\) is live/);
    let text = await statusText(agent);
    expect(text).toMatch(/\n {2}live +v1\.0\.0 /);
    expect(text).toContain("paused: pinned to v1.0.0 (rolled back from v1.1.0) since");
    expect(text).not.toContain("pinned to v1.1.0");
    const paused = await ok(agent, ["check", app]);
    expect(paused).toContain("pinned to v1.0.0 (rolled back from v1.1.0)");

    // The tracked tag now names the release rolled back from; polling resumes but does not bring it back.
    const latest = await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v1.1.0" });
    expect(latest.digest).toBe(v11.digest);
    expect(await ok(agent, ["resume", app])).toContain(`${app}: unpinned; polling resumes`);
    const deploysBefore = (await deployHistory(agent, app)).length;
    await ok(agent, ["check", app]);
    text = await statusText(agent);
    expect(text).toContain(`latest → ${v11.digest.slice(0, 19)} (skipped: rolled back), not deploying`);
    expect(text).toMatch(/\n {2}polling +active/);
    expect(text).toMatch(/\n {2}live +v1\.0\.0 /);
    expect((await deployHistory(agent, app)).length).toBe(deploysBefore);
  });
});
