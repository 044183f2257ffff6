// Delivery against a real local HTTP receiver: retries after 503, gives up after the last attempt,
// never retries a 404, times out a target that does not answer and tries again, drops the oldest
// events of a target that is behind, logs one warning per failure episode, and never logs a secret.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { NotifyTarget } from "../../agent/config/schema.js";
import { createLogger } from "../../agent/log.js";
import { NOTIFY_EVENTS } from "../../agent/notify/event.js";
import { Notifications, armTargets } from "../../agent/notify/notifications.js";
import { signatureMatches, startNotifyReceiver, type NotifyReceiver } from "../support/notify-receiver.js";

const SECRET = "hook-secret-n9n";
const TOKEN = "tok-path-n9n";
/** Short waits so a test's retries take milliseconds; the policy's shape is the daemon's. */
const FAST = { attempts: 3, timeoutMs: 300, baseDelayMs: 20, maxDelayMs: 100 };

let dir: string;
let receiver: NotifyReceiver;
let logged: string[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "n9n-notify-"));
  await writeFile(join(dir, "hook.secret"), `${SECRET}\n`, { mode: 0o600 });
});
afterAll(() => rm(dir, { recursive: true, force: true }));
beforeEach(async () => {
  receiver = await startNotifyReceiver();
  logged = [];
});
afterEach(() => receiver.close());

function target(over: Partial<NotifyTarget> = {}): NotifyTarget {
  return { url: `${receiver.url}/hook/${TOKEN}?token=${TOKEN}`, format: "json", events: [...NOTIFY_EVENTS], ...over };
}

async function open(targets: NotifyTarget[], opts: { queueLimit?: number; policy?: Partial<typeof FAST> } = {}): Promise<Notifications> {
  const log = createLogger({ level: "debug", format: "json", journal: false, destination: { write: (s: string) => logged.push(s) } });
  return new Notifications(await armTargets(targets), { log, host: "box1", policy: { ...FAST, ...opts.policy }, ...(opts.queueLimit ? { queueLimit: opts.queueLimit } : {}) });
}

async function waitUntil(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(ok()).toBe(true);
}

const lines = (msg: string) => logged.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === msg);

describe("delivery", () => {
  it("tries again after 503 and delivers once, signed, naming the target by scheme and host only in the log", async () => {
    const n = await open([target({ secretFile: join(dir, "hook.secret") })]);
    receiver.failNext(2);
    const [r] = await n.test("web");
    expect(r).toMatchObject({ ok: true, status: 204, attempts: 3, format: "json", target: receiver.url });
    expect(receiver.received).toHaveLength(1);
    const got = receiver.received[0]!;
    expect(signatureMatches(got.body, SECRET, got.headers["x-hub-signature-256"])).toBe(true);
    expect(got.json).toMatchObject({ schema: 1, event: "test", app: "web", host: "box1" });
    // Retries that end in a delivery are no failure: nothing is logged as one.
    expect(lines("notification not delivered; further failures of this target are logged at debug level until it works again")).toEqual([]);
  });

  it("gives up after the last attempt, warns once for the episode, and says when the target works again", async () => {
    const n = await open([target()]);
    receiver.failNext(6);
    n.send({ event: "deployed", app: "web", deployId: "1" });
    n.send({ event: "deployed", app: "web", deployId: "2" });
    await n.idle();
    expect(receiver.received).toHaveLength(0);
    const warned = lines("notification not delivered; further failures of this target are logged at debug level until it works again");
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatchObject({ target: receiver.url, status: 503, attempts: 3 });
    expect(lines("notification not delivered")).toHaveLength(1);
    n.send({ event: "deployed", app: "web", deployId: "3" });
    await n.idle();
    expect(receiver.received.map((r) => (r.json as { deployId: string }).deployId)).toEqual(["3"]);
    expect(lines("notification target works again")).toHaveLength(1);
    expect(logged.join("\n")).not.toContain(TOKEN);
  });

  it("does not try again after a 404", async () => {
    const n = await open([target()]);
    receiver.failNext(1, 404);
    const [r] = await n.test("web");
    expect(r).toMatchObject({ ok: false, status: 404, attempts: 1 });
  });

  it("ends an attempt the target does not answer and tries again", async () => {
    const n = await open([target()]);
    receiver.hangNext(1);
    const [r] = await n.test("web");
    expect(r).toMatchObject({ ok: true, attempts: 2 });
    expect(receiver.received).toHaveLength(1);
    receiver.hangNext(3);
    const [gone] = await n.test("web");
    expect(gone).toMatchObject({ ok: false, error: "no answer within 0.3s", attempts: 3 });
  });

  it("reports a target that cannot be reached with the failure in words, after every attempt", async () => {
    const n = await open([{ url: "http://127.0.0.1:9/hook", format: "slack", events: ["failed"] }]);
    const [r] = await n.test("web");
    expect(r).toEqual({ target: "http://127.0.0.1:9", format: "slack", ok: false, error: "connection failed (ECONNREFUSED)", attempts: 3 });
  });

  it("keeps at most queueLimit events waiting for a target that is behind, dropping the oldest", async () => {
    const n = await open([target()], { queueLimit: 3, policy: { attempts: 1, timeoutMs: 200 } });
    receiver.hangNext(100);
    for (let i = 1; i <= 10; i++) n.send({ event: "deployed", app: "web", deployId: String(i) });
    expect(n.dropped()).toEqual({ [receiver.url]: 6 });
    expect(lines("notification target is behind: the oldest waiting notification was dropped")).toHaveLength(1);
    await waitUntil(() => receiver.held() === 1);
    receiver.hangNext(0);
    await n.idle();
    // The first was under way (held, then given up) when the queue filled; of the rest, the newest three were kept.
    expect(receiver.received.map((r) => (r.json as { deployId: string }).deployId)).toEqual(["8", "9", "10"]);
  });

  it("sends an event only to the targets that list it, and renders each target's format", async () => {
    const n = await open([target({ events: ["failed"] }), target({ url: `${receiver.url}/ntfy`, format: "ntfy", events: ["deployed"] })]);
    n.send({ event: "deployed", app: "web", release: { version: "v2", digest: `sha256:${"c".repeat(64)}` } });
    await n.idle();
    expect(receiver.received).toHaveLength(1);
    expect(receiver.received[0]).toMatchObject({ path: "/ntfy" });
    expect(receiver.received[0]!.headers).toMatchObject({ title: "web: v2 deployed", priority: "3" });
  });

  it("never logs the secret, even when the target's config is logged whole", async () => {
    const [armed] = await armTargets([target({ secretFile: join(dir, "hook.secret") })]);
    const log = createLogger({ level: "debug", format: "json", journal: false, destination: { write: (s: string) => logged.push(s) } });
    log.info({ armed }, "a target");
    expect(logged.join("\n")).not.toContain(SECRET);
  });
});
