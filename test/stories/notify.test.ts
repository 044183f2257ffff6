// Notifications on the real daemon, Engine and registry, received by a local HTTP receiver that
// checks the signature: each deploy's outcome is one event (deployed, rolled-back, failed with the
// release's last log lines), a registry that stops answering is one poll-failing and one
// poll-recovered however many polls fail, a target that hangs does not hold up a deploy, and
// `agentctl notify test` prints each target's result. One daemon; the steps run in order.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentctl, agentYaml, loggedLines, settledDeploy, startAgent, storyApp, waitFor, writeConfig, type AgentProcess } from "../support/agent.js";
import { startFaultyRegistry, type FaultyRegistry } from "../support/faulty-registry.js";
import { publishVersion, testRunId } from "../support/images.js";
import { signatureMatches, startNotifyReceiver, type NotifyReceiver, type Received } from "../support/notify-receiver.js";
import { storyScope } from "../support/story-scope.js";

const run = testRunId();
const app = `n9n-notify-${run}`;
const repo = `stories/${app}`;
const scope = storyScope("n9n-notify-");
const SECRET = `n9n-secret-${run}`;
const TOKEN = `n9n-token-${run}`;

let agent: AgentProcess;
let registry: FaultyRegistry;
let receiver: NotifyReceiver;
let hanging: NotifyReceiver;
let v1: string;

interface Doc {
  schema: number;
  event: string;
  app: string;
  host: string;
  at: string;
  deployId?: string;
  trigger?: string;
  release?: { version: string; digest?: string };
  previous?: { version: string; digest: string };
  outcome?: string;
  reason?: string;
  error?: { code: string; message: string };
  durationMs?: number;
  logTail?: string[];
}

/** The json target's documents for this app. */
const docs = (r: NotifyReceiver = receiver): Doc[] => r.received.filter((x) => x.path.startsWith("/json")).map((x) => x.json as Doc).filter((d) => d.app === app);
const named = (event: string, r?: NotifyReceiver): Doc[] => docs(r).filter((d) => d.event === event);

/** Waits for the json target's first `event` matching `match`. */
async function received(event: string, match: (d: Doc) => boolean = () => true, timeoutMs = 90_000): Promise<Received & { json: Doc }> {
  const r = await receiver.waitFor((x) => x.path.startsWith("/json") && (x.json as Doc).event === event && (x.json as Doc).app === app && match(x.json as Doc), timeoutMs);
  return r as Received & { json: Doc };
}

async function ctl(args: string[]): Promise<string> {
  const r = await agentctl(agent, args);
  expect(r.code, `agentctl ${args.join(" ")}:\n${r.stdout}${r.stderr}`).toBe(0);
  return r.stdout;
}

beforeAll(async () => {
  receiver = await startNotifyReceiver();
  hanging = await startNotifyReceiver();
  registry = await startFaultyRegistry();
  const dir = scope.dir();
  const secretFile = join(dir, "hook.secret");
  writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
  // The json target's URL carries a token, as webhook URLs do: it must never reach a log.
  const notify = `notify:
  - { url: "${receiver.url}/json/${TOKEN}", secretFile: ${secretFile} }
  - { url: "${receiver.url}/ntfy", format: ntfy, events: [failed] }
  - { url: "${hanging.url}/json", events: [deployed] }
  - { url: "http://127.0.0.1:9/dead", format: slack, events: [failed] }
poll: { maxBackoff: 4s, jitter: 0s }
`;
  writeConfig(dir, agentYaml(dir, storyApp(app, `${registry.host}/${repo}`, run)) + notify);
  v1 = (await publishVersion({ repo, tag: "latest", behaviour: "good", version: "v1" })).digest;
  await publishVersion({ repo, tag: "v2", behaviour: "good", version: "v2" });
  agent = scope.track(await startAgent(dir));
}, 180_000);

afterAll(async () => {
  await scope.close();
  await registry?.stop();
  await receiver?.close();
  await hanging?.close();
});

describe("notifications from a running daemon", () => {
  it("sends one deployed for the first poll's deploy, in the documented shape and signed", async () => {
    const got = await received("deployed");
    expect(signatureMatches(got.body, SECRET, got.headers["x-hub-signature-256"])).toBe(true);
    const d = got.json;
    expect(Object.keys(d).sort()).toEqual(["app", "at", "deployId", "durationMs", "event", "host", "outcome", "release", "schema", "trigger"]);
    expect(d).toMatchObject({ schema: 1, event: "deployed", app, trigger: "poll", outcome: "succeeded", release: { version: "latest", digest: v1 } });
    expect(d.durationMs).toBeGreaterThan(0);
    expect(Date.parse(d.at)).not.toBeNaN();
  }, 120_000);

  it("finishes a deploy while a target still hangs, and delivers to that target on a later attempt", async () => {
    await waitFor("the hanging target's first notification", () => named("deployed", hanging).length === 1, 30_000, 50);
    hanging.hangNext(1);
    const out = await ctl(["deploy", app, "v2"]);
    expect(out).toMatch(/succeeded: v2 /);
    const record = await settledDeploy(agent, app);
    // agentctl had its answer; the hanging target still holds the deploy's notification, unanswered.
    await waitFor("the hanging target to hold the notification", () => hanging.held() === 1, 30_000, 50);
    expect(named("deployed", hanging).map((d) => d.deployId)).not.toContain(record.id);
    const d = (await received("deployed", (x) => x.deployId === record.id)).json;
    expect(d).toMatchObject({ trigger: "cli", release: { version: "v2" }, previous: { version: "latest", digest: v1 } });
  }, 120_000);

  it("sends rolled-back for agentctl rollback, naming the release gone back to and the one left", async () => {
    const v2 = (await settledDeploy(agent, app)).digest;
    await ctl(["rollback", app]);
    const d = (await received("rolled-back")).json;
    expect(d).toMatchObject({ trigger: "rollback", outcome: "rolled-back", release: { version: "latest", digest: v1 }, previous: { version: "v2", digest: v2 } });
  }, 120_000);

  it("sends one failed with the error code and the release's last log lines when the new release crashes", async () => {
    await ctl(["resume", app]);
    const crash = (await publishVersion({ repo, tag: "latest", behaviour: "crash", version: "v3" })).digest;
    const got = await received("failed");
    expect(got.json).toMatchObject({ trigger: "poll", outcome: "failed", error: { code: "GREEN_EXITED" }, release: { version: "latest", digest: crash }, previous: { digest: v1 } });
    expect(got.json.logTail).toContain("crash fixture v3: exiting with status 1");
    // The ntfy target gets the same event as ntfy shows it.
    const ntfy = await receiver.waitFor((x) => x.path === "/ntfy");
    expect(ntfy.headers).toMatchObject({ title: `${app}: deploy of latest failed (GREEN_EXITED)`, tags: "x,deploy-agent", priority: "4" });
    expect(ntfy.body).toContain("crash fixture v3: exiting with status 1");
  }, 120_000);

  it("sends one poll-failing over many failed polls, and one poll-recovered when the registry answers again", async () => {
    const from = agent.lines.length;
    registry.set("500", "poll");
    const failing = (await received("poll-failing")).json;
    expect(failing).toMatchObject({ trigger: "poll", error: { code: "REGISTRY_UNAVAILABLE" } });
    await waitFor("three failed polls", () => loggedLines(agent, "poll failed", app, from).length + loggedLines(agent, "poll failed again", app, from).length >= 3, 60_000);
    registry.set(undefined);
    const recovered = (await received("poll-recovered")).json;
    expect(Number(/^the registry answered again after (\d+) failed polls$/.exec(recovered.reason ?? "")?.[1])).toBeGreaterThanOrEqual(3);
    expect(named("poll-failing")).toHaveLength(1);
    expect(named("poll-recovered")).toHaveLength(1);
  }, 120_000);

  it("prints each target's result for agentctl notify test, and exits 1 when one failed", async () => {
    const r = await agentctl(agent, ["notify", "test"]);
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatch(new RegExp(`^${receiver.url.replace(/\./g, "\\.")} +json +ok \\(204\\) +\\(1 attempt\\)$`));
    expect(lines[3]).toMatch(/^http:\/\/127\.0\.0\.1:9 +slack +failed: connection failed \(ECONNREFUSED\) +\(3 attempts\)$/);
    expect(r.stdout).not.toContain(TOKEN);
    expect(named("test")).toHaveLength(1);
  }, 60_000);

  it("sent no event twice, and wrote neither the secret nor the URL's token to its log", async () => {
    // The hanging target's retry of the cli deploy's notification arrived after its first attempt timed out.
    await waitFor("the hanging target's retry", () => named("deployed", hanging).length === 2, 60_000);
    const keys = docs().map((d) => `${d.event} ${d.deployId ?? ""}`);
    expect(keys.length).toBeGreaterThanOrEqual(7);
    expect(new Set(keys).size).toBe(keys.length);
    const log = agent.lines.join("\n");
    expect(log).not.toContain(SECRET);
    expect(log).not.toContain(TOKEN);
    // The dead target failed for the crash's event and for the test: one warning for the episode.
    const warned = agent.lines.filter((l) => l.includes('"notification not delivered; further failures') && l.includes('"target":"http://127.0.0.1:9"'));
    expect(warned).toHaveLength(1);
  }, 90_000);
});
