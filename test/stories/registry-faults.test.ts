// Two apps on one daemon; app A reaches the registry through a loopback proxy that the test turns
// faulty (500, 429 with Retry-After: 30, no answer at all), app B reaches it directly. A failing
// registry holds A on its release without touching B, is logged once per episode, is backed off
// from (poll.maxBackoff, short here), and A catches up on the polls after the registry answers
// again (REGISTRY_UNAVAILABLE, docs/design.md#failures-and-backoff).
import http from "node:http";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AppStatus } from "../../agent/control/protocol.js";
import {
  agentYaml,
  type AgentProcess,
  appStatus,
  deployHistory,
  loggedLines,
  makeAgentDir,
  removeDir,
  servedVersion,
  settledDeploy,
  startAgent,
  storyApp,
  waitFor,
  writeConfig,
} from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { TEST_REGISTRY, publishVersion, removeLocalImages, testRunId, type PublishedImage } from "../support/images.js";
import { startScriptedServer, type LoopbackServer } from "../support/loopback.js";
import { startTraefikModel } from "../support/traefik-model.js";

const run = testRunId();
const appA = `regfault-a-${run}`;
const appB = `regfault-b-${run}`;
const repo = (app: string): string => `stories/${app}`;
const docker = new Dockerode();

type Mode = "pass" | "500" | "429" | "hang";

let agent: AgentProcess;
let traefik: Awaited<ReturnType<typeof startTraefikModel>>;
let proxy: LoopbackServer;
let mode: Mode = "pass";
let dir: string;
/** What A's tracked tag names in the registry now; A deploys it once the registry answers again. */
let pendingA: PublishedImage | undefined;

/**
 * A's registry: forwards to the test registry, or fails as `mode` says. A hanging request is held
 * open until the proxy stops, so only the agent's own deadline (15 s, client.ts) ends it.
 */
function handle(req: http.IncomingMessage, res: http.ServerResponse): void {
  const errorBody = (code: string, message: string): string => JSON.stringify({ errors: [{ code, message }] });
  switch (mode) {
    case "500":
      res.writeHead(500, { "content-type": "application/json" }).end(errorBody("UNKNOWN", "injected by the test proxy"));
      return;
    case "429":
      res.writeHead(429, { "content-type": "application/json", "retry-after": "30" }).end(errorBody("TOOMANYREQUESTS", "injected by the test proxy"));
      return;
    case "hang":
      return;
    case "pass": {
      const [host, port] = TEST_REGISTRY.split(":");
      const upstream = http.request({ host, port: Number(port), method: req.method, path: req.url, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      upstream.on("error", (err) => (res.headersSent ? res.destroy(err) : res.writeHead(502).end(String(err))));
      // startScriptedServer has drained the request already; registry reads (GET/HEAD) carry no body.
      upstream.end();
    }
  }
}

const settled = (app: string) => settledDeploy(agent, app);
const serving = (app: string) => servedVersion(traefik.url, `${app}.test`);
const status = (app: string) => appStatus(agent, app);
const history = (app: string) => deployHistory(agent, app);
const logged = (msg: string, app: string, from: number) => loggedLines(agent, msg, app, from);
type ErrorRecord = NonNullable<NonNullable<AppStatus["lastPoll"]>["error"]>;

/** Waits until `n` distinct polls of `app` finished after `sinceMs`, each with an error; returns their errors. */
async function failedPolls(app: string, sinceMs: number, n: number, timeoutMs: number): Promise<ErrorRecord[]> {
  const seen = new Map<string, ErrorRecord>();
  await waitFor(
    `${n} failed polls of ${app}`,
    async () => {
      const p = (await status(app)).lastPoll;
      if (p?.error !== undefined && Date.parse(p.at) > sinceMs) seen.set(p.at, p.error);
      return seen.size >= n;
    },
    timeoutMs,
    300,
  );
  return [...seen.values()];
}

beforeAll(async () => {
  proxy = await startScriptedServer(handle);
  dir = makeAgentDir();
  writeConfig(
    dir,
    `${agentYaml(dir, storyApp(appA, `${proxy.host}/${repo(appA)}`, run), storyApp(appB, `${TEST_REGISTRY}/${repo(appB)}`, run))}poll: { maxBackoff: 4s }\n`,
  );
  traefik = await startTraefikModel({ docker });
  for (const app of [appA, appB]) {
    await publishVersion({ repo: repo(app), tag: "latest", behaviour: "good", version: "v1" });
    await removeLocalImages(repo(app));
  }
  agent = await startAgent(dir);
});

afterAll(async () => {
  await agent?.stop();
  await proxy?.stop();
  await traefik?.close();
  await cleanupTestRun();
  if (dir) removeDir(dir);
});

/** A poll refused by the agent's own backoff after the registry failed: nothing was sent. */
const BACKED_OFF = /: not sent; \S+ failed \d+ times? in a row \(last: /;

const faults: { mode: Exclude<Mode, "pass">; desc: string; message: RegExp; polls: number; timeoutMs: number }[] = [
  // While backed off, a poll's error names the last failure instead of a new answer.
  { mode: "500", desc: "answers 500", message: /answered 500 \(server error\)|last: HTTP 500 to HEAD/, polls: 5, timeoutMs: 90_000 },
  // A sent poll waits out the agent's 15 s request deadline; the backed-off ones between fail at once.
  { mode: "hang", desc: "never answers", message: /no answer within \d+ms/, polls: 3, timeoutMs: 150_000 },
  { mode: "429", desc: "answers 429 with Retry-After: 30", message: /Retry-After/, polls: 4, timeoutMs: 90_000 },
];

describe("a registry that fails for one of two apps", () => {
  it("deploys both apps at start, A through the proxy", async () => {
    await waitFor("A and B to serve v1", async () => (await serving(appA)) === "v1" && (await serving(appB)) === "v1", 90_000);
    for (const app of [appA, appB]) {
      await settled(app);
      const h = await history(app);
      expect(h).toHaveLength(1);
      expect(h[0]).toMatchObject({ trigger: "poll", outcome: "succeeded" });
    }
    // The Engine's pull of A asked the proxy for the manifest by digest (a HEAD when the layers are local).
    const seen = proxy.requests.map((r) => `${r.method} ${r.url}`);
    expect(seen.some((r) => r.includes(` /v2/${repo(appA)}/manifests/sha256:`)), seen.join("\n")).toBe(true);
  });

  for (const [i, f] of faults.entries()) {
    it(
      `deploys B's push while A's registry ${f.desc}, keeps A serving v1, and logs A's failure once per episode`,
      async () => {
        const historyA = await history(appA);
        const from = agent.lines.length;
        const switchedAt = Date.now();
        mode = f.mode;
        const version = `v2-${f.mode}`;
        const pushedB = await publishVersion({ repo: repo(appB), tag: "latest", behaviour: "good", version });
        pendingA = await publishVersion({ repo: repo(appA), tag: "latest", behaviour: "good", version });

        await waitFor(`B to serve ${version}`, async () => (await serving(appB)) === version, 90_000);
        expect(await settled(appB)).toMatchObject({ trigger: "poll", outcome: "succeeded", digest: pushedB.digest });

        const errors = await failedPolls(appA, switchedAt, f.polls, f.timeoutMs);
        for (const e of errors) expect(e.code).toBe("REGISTRY_UNAVAILABLE");
        // Polls every 2 s against a registry that keeps answering 500: the backoff (2–4 s) skips some.
        if (f.mode === "500") expect(errors.some((e) => BACKED_OFF.test(e.message)), JSON.stringify(errors, null, 1)).toBe(true);
        const last = (await status(appA)).lastPoll!;
        expect(last.error).toMatchObject({ code: "REGISTRY_UNAVAILABLE", message: expect.stringMatching(f.message) });

        // A did not deploy: no new history record, and v1 still answers through Traefik's rules.
        expect(await history(appA)).toEqual(historyA);
        expect(await serving(appA)).toBe("v1");
        const runningA = (await status(appA)).containers.filter((c) => c.state === "running");
        expect(runningA).toHaveLength(1);

        // One episode, one line, however many polls failed in it. The faults follow one another with
        // no good poll between them, so they are one episode of REGISTRY_UNAVAILABLE: only the first
        // logs; `status` (checked above) shows each one's own message.
        const lines = logged("poll failed", appA, from);
        expect(lines.map((l) => l.err), JSON.stringify(lines, null, 1)).toHaveLength(i === 0 ? 1 : 0);
        if (i === 0) expect(lines[0]).toMatchObject({ code: "REGISTRY_UNAVAILABLE", err: expect.stringMatching(f.message) });
        expect(logged("poll failed", appB, from)).toEqual([]);
      },
      f.timeoutMs + 90_000,
    );
  }

  it("deploys A's latest push on the next polls once its registry answers again", async () => {
    const from = agent.lines.length;
    mode = "pass";
    const version = `v2-${faults.at(-1)!.mode}`;
    // After the 429 the agent sends A's registry nothing until Retry-After (30 s) has passed.
    await waitFor(`A to serve ${version}`, async () => (await serving(appA)) === version, 120_000);
    expect(await settled(appA)).toMatchObject({ trigger: "poll", outcome: "succeeded", digest: pendingA!.digest });
    expect(await history(appA)).toHaveLength(2);
    const last = (await status(appA)).lastPoll!;
    expect(last.error).toBeUndefined();
    expect(last.digest).toBe(pendingA!.digest);
    expect(logged("poll works again", appA, from)).toHaveLength(1);
    expect(logged("poll failed", appA, from)).toEqual([]);
    expect(await serving(appB)).toBe(version);
  }, 180_000);
});
