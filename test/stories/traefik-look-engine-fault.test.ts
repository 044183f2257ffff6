// The look for a Traefik on a route's network is an Engine call like any other, and the Engine may
// fail it or not answer it while it answers the rest. The start-up warning and `agentctl status`
// then say the network is unknown, with the Engine's reason, never "no Traefik"; the warning that
// switches are not confirmed stays; and once the Engine answers, status says what it sees.
import { afterAll, describe, expect, it } from "vitest";
import { RESULT_SCHEMAS } from "../../agent/control/protocol.js";
import { agentctl, agentYaml, startAgent, storyApp, writeConfig, type AgentProcess } from "../support/agent.js";
import { startEngineFaultProxy, type EngineFaultProxy } from "../support/engine-fault-proxy.js";
import { testRunId } from "../support/images.js";
import { storyScope } from "../support/story-scope.js";

const run = testRunId();
const app = `w13-look-${run}`;
const network = `w13-look-net-${run}`;
const scope = storyScope("da-w13-look-");
let proxy: EngineFaultProxy | undefined;

afterAll(async () => {
  await scope.close();
  await proxy?.close();
});

/** The daemon's warn-level lines about `app`, as messages. */
function warned(agent: AgentProcess): string[] {
  return agent.lines.flatMap((l) => {
    try {
      const line = JSON.parse(l) as { level?: number; msg?: string; app?: unknown };
      return line.level === 40 && line.app === app && line.msg ? [line.msg] : [];
    } catch {
      return [];
    }
  });
}

/** The `warning` rows of the app's block in `agentctl status`. */
async function statusWarnings(agent: AgentProcess): Promise<string[]> {
  const r = await agentctl(agent, ["status", app]);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split("\n").flatMap((l) => /^ {2}warning +(.*)$/.exec(l)?.slice(1) ?? []);
}

const unknownWords = `could not look for Traefik on network ${network}, so whether the route is served is unknown`;
const unconfirmed = "traefik.api is not set: switches are not confirmed, the agent waits settle (1s)";

describe("an Engine that fails or does not answer the look for Traefik", () => {
  it("leaves start-up and status working, saying the network is unknown with the Engine's reason, and says what it sees once the Engine answers", async () => {
    // Only the list of networks by name is faulted: the first call of the look, and no other call
    // of an agent that deploys nothing (the image does not exist, and it polls only at start).
    proxy = await startEngineFaultProxy((method, url) => method === "GET" && /^\/v[\d.]+\/networks\?/.test(url));
    const dir = scope.dir();
    writeConfig(dir, agentYaml(dir, storyApp(app, `127.0.0.1:5000/stories/${app}`, run, { network, schedule: "0 0 1 1 *" })).replace("apps:", `docker: { socket: ${proxy.socketPath} }\napps:`));

    proxy.setMode("fail");
    let agent = scope.track(await startAgent(dir));
    const refused = `(Docker Engine refused list of networks named ${network} (HTTP 500): ${proxy.failMessage}); each agentctl status looks again`;
    expect(warned(agent)).toEqual(expect.arrayContaining([`${unknownWords} ${refused}`]));
    expect(warned(agent).filter((m) => /no Traefik|not on network/.test(m))).toEqual([]);
    expect(await statusWarnings(agent)).toEqual([`${unknownWords} ${refused}`, unconfirmed]);
    const json = await agentctl(agent, ["status", app], { json: true });
    expect(RESULT_SCHEMAS.status.parse(json.json).apps[0]?.routing).toEqual({
      network,
      lookError: `Docker Engine refused list of networks named ${network} (HTTP 500): ${proxy.failMessage}`,
      confirmed: false,
      settleMs: 1000,
    });

    // An Engine that holds the call: start-up and status each give up after their short deadline.
    proxy.setMode("hang");
    const held = proxy.faulted();
    await agent.stop();
    agent = scope.track(await startAgent(dir));
    expect(proxy.faulted()).toBeGreaterThan(held);
    const silent = `(Docker Engine at ${proxy.socketPath} did not answer list of networks named ${network} within 2s); each agentctl status looks again`;
    expect(warned(agent)).toEqual(expect.arrayContaining([`${unknownWords} ${silent}`]));
    expect(await statusWarnings(agent)).toEqual([`${unknownWords} ${silent}`, unconfirmed]);

    proxy.setMode("forward");
    expect(await statusWarnings(agent)).toEqual([
      `Traefik is not on network ${network} yet (the agent creates the network at the first deploy): the route is not served; start Traefik with the example in examples/traefik`,
      unconfirmed,
    ]);
  });
});
