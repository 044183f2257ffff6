// Without traefik.api a deploy "succeeds" even when no Traefik shares the route's network, and the
// app is then reachable only by container IP. The agent says so, at start in its log and in
// `agentctl status`, as warnings: it still starts and serves its socket.
import Dockerode from "dockerode";
import { afterAll, describe, expect, it } from "vitest";
import { agentctl, agentYaml, startAgent, storyApp, writeConfig } from "../support/agent.js";
import { testRunId } from "../support/images.js";
import { storyScope } from "../support/story-scope.js";
import { runOnNetwork, testNetwork, traefikLookalike } from "../support/traefik-lookalike.js";

const run = testRunId();
const docker = new Dockerode();
const scope = storyScope("da-tw-");

afterAll(() => scope.close());

/** The daemon's warn-level log lines, as [msg, app] pairs. */
function warnings(lines: string[]): [string, unknown][] {
  return lines.flatMap((l) => {
    try {
      const line = JSON.parse(l) as { level?: number; msg?: string; app?: unknown };
      return line.level === 40 && line.msg ? [[line.msg, line.app] as [string, unknown]] : [];
    } catch {
      return [];
    }
  });
}

describe("a routed app with no Traefik on its network, and no traefik.api", () => {
  it("is warned about at start and in status, once for the unconfirmed switches, and the agent still serves", async () => {
    const lone = `tw-lone-${run}`;
    const edge = `tw-edge-${run}`;
    const loneNet = `tw-nonet-${run}`;
    const edgeNet = await testNetwork(docker, `tw-edgenet-${run}`, run);
    const traefik = await traefikLookalike(docker, `tw-traefik-${run}`, run);
    await runOnNetwork(docker, { name: `tw-proxy-${run}`, image: traefik.ref, network: edgeNet, runId: run });
    const dir = scope.dir();
    // Neither image exists: no deploy creates the lone app's network while the test looks.
    writeConfig(
      dir,
      agentYaml(dir, storyApp(lone, `127.0.0.1:5000/stories/${lone}`, run, { network: loneNet }), storyApp(edge, `127.0.0.1:5000/stories/${edge}`, run, { network: edgeNet })),
    );
    const agent = scope.track(await startAgent(dir));

    const missing = `Traefik is not on network ${loneNet} yet (the agent creates the network at the first deploy): the route is not served; start Traefik with the example in examples/traefik`;
    const unconfirmed = "traefik.api is not set: switches are not confirmed, the agent waits settle (1s)";
    const logged = warnings(agent.lines);
    expect(logged).toContainEqual([missing, lone]);
    // The failing polls of both apps may log warnings too: only the words about Traefik count here.
    expect(logged.filter(([msg, app]) => app === edge && msg.includes("Traefik"))).toEqual([]);
    expect(logged.filter(([msg]) => msg === unconfirmed)).toHaveLength(1);

    const status = await agentctl(agent, ["status"]);
    expect(status.code, status.stderr).toBe(0);
    const block = (app: string) => status.stdout.split("\n\n").find((b) => b.startsWith(`${app}  `)) ?? "";
    const [loneBlock, edgeBlock] = [block(lone), block(edge)];
    const rows = (text: string) => text.split("\n").map((l) => l.trim().replace(/^(\S+(?: \S+)?) {2,}/, "$1: "));
    expect(rows(loneBlock)).toEqual(expect.arrayContaining([`warning: ${missing}`, `warning: ${unconfirmed}`]));
    expect(rows(edgeBlock).filter((r) => r.startsWith("warning:"))).toEqual([`warning: ${unconfirmed}`]);

    const json = await agentctl(agent, ["status", edge], { json: true });
    expect((json.json as { apps: { routing?: unknown }[] }).apps[0]!.routing).toEqual({ network: edgeNet, networkExists: true, traefik: [`tw-proxy-${run}`], confirmed: false, settleMs: 1000 });
  });
});
