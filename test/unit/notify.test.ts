// Notifications as pure logic: each format's rendering and limits, the signature, which failures are
// retried and after how long, what is scrubbed, which deploy outcome sends which event, one
// poll-failing per run of failed polls, and the `notify` config's errors.
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { notifyCommand, notifyLines } from "../../agent/cli/commands/notify.js";
import type { CommandContext } from "../../agent/cli/command.js";
import { parseConfig } from "../../agent/config/load.js";
import { outcomeEvent } from "../../agent/deploy/notify-outcome.js";
import { PollEpisodes } from "../../agent/deploy/poll-episode.js";
import { isAgentError } from "../../agent/errors.js";
import { DISCORD_CONTENT_MAX, DISCORD_FIELD_MAX, NTFY_MAX_BYTES, SLACK_TEXT_MAX, cut, render, signature, type NotifyDocument } from "../../agent/notify/render.js";
import { DEFAULT_DELIVERY_POLICY, mayPass, retryAfterMs, retryDelay } from "../../agent/notify/retry.js";
import { LOG_TAIL_MAX_BYTES, LOG_TAIL_LINES, logTailLines, redactSecrets, scrubEvent } from "../../agent/notify/scrub.js";
import { targetName } from "../../agent/notify/notifications.js";

const D1 = `sha256:${"a1".repeat(32)}`;
const D2 = `sha256:${"b2".repeat(32)}`;

function doc(over: Partial<NotifyDocument> = {}): NotifyDocument {
  return {
    schema: 1,
    event: "failed",
    app: "web",
    host: "box1",
    at: "2026-01-01T02:00:00.000Z",
    deployId: "7",
    trigger: "poll",
    release: { version: "v2", digest: D2 },
    previous: { version: "v1", digest: D1 },
    outcome: "failed",
    error: { code: "GREEN_EXITED", message: "web-green exited with status 1" },
    durationMs: 4200,
    logTail: ["starting", "boom: cannot open /data"],
    ...over,
  };
}

describe("rendering", () => {
  it("sends the json document unchanged, with every documented field", () => {
    const r = render("json", doc());
    expect(r.contentType).toBe("application/json");
    expect(JSON.parse(r.body)).toEqual(doc());
  });

  it("renders ntfy as plain text with a title, tags and a high priority for a failure", () => {
    const r = render("ntfy", doc());
    expect(r.contentType).toMatch(/^text\/plain/);
    expect(r.headers).toEqual({ title: "web: deploy of v2 failed (GREEN_EXITED)", tags: "x,deploy-agent", priority: "4" });
    expect(r.body).toContain("error: GREEN_EXITED: web-green exited with status 1");
    expect(r.body).toContain("last log lines:\nstarting\nboom: cannot open /data");
    expect(render("ntfy", doc({ event: "deployed", outcome: "succeeded" })).headers.priority).toBe("3");
  });

  it("cuts an ntfy body to ntfy's 4096 bytes and says so, and keeps headers printable ASCII", () => {
    const r = render("ntfy", doc({ logTail: Array.from({ length: 200 }, (_, i) => `line ${i} ${"é".repeat(30)}`), app: "wéb" }));
    expect(Buffer.byteLength(r.body)).toBeLessThanOrEqual(NTFY_MAX_BYTES);
    expect(r.body.endsWith("[…cut]")).toBe(true);
    expect(r.headers.title).toMatch(/^[\x20-\x7e]+$/);
  });

  it("renders discord as content and one embed with fields, and resolves no mention", () => {
    const body = JSON.parse(render("discord", doc({ logTail: ["@everyone look"] })).body);
    expect(body.content).toBe("web: deploy of v2 failed (GREEN_EXITED)");
    expect(body.allowed_mentions).toEqual({ parse: [] });
    expect(body.embeds[0].fields).toContainEqual({ name: "previous", value: `v1 (${D1.slice(0, 19)})`, inline: true });
    expect(body.embeds[0].description).toContain("@everyone look");
    expect(body.embeds[0].timestamp).toBe("2026-01-01T02:00:00.000Z");
  });

  it("keeps discord's limits on content and field values", () => {
    const long = "x".repeat(5000);
    const body = JSON.parse(render("discord", doc({ app: long, error: { code: "INTERNAL", message: long } })).body);
    expect(body.content.length).toBeLessThanOrEqual(DISCORD_CONTENT_MAX);
    for (const f of body.embeds[0].fields) expect(f.value.length).toBeLessThanOrEqual(DISCORD_FIELD_MAX);
    expect(body.embeds[0].fields.find((f: { name: string }) => f.name === "error").value).toMatch(/\[…cut\]$/);
  });

  it("renders slack as text with blocks, escaping what mrkdwn treats as markup", () => {
    const body = JSON.parse(render("slack", doc({ error: { code: "X", message: "<script> & more" }, logTail: ["a".repeat(9000)] })).body);
    expect(body.text).toBe("web: deploy of v2 failed (X)");
    expect(body.blocks[1].text.text).toContain("&lt;script&gt; &amp; more");
    for (const b of body.blocks.slice(1)) expect(b.text.text.length).toBeLessThanOrEqual(SLACK_TEXT_MAX);
    expect(body.blocks[2].text.text).toContain("[…cut]");
  });

  it("cuts text without splitting a surrogate pair", () => {
    expect(cut("ab😀cdefghij", 10)).toBe("ab […cut]");
    expect(cut("short", 10)).toBe("short");
  });
});

describe("signing", () => {
  it("signs the exact body in GitHub's sha256=<hex> form", () => {
    const body = render("json", doc()).body;
    expect(signature(body, "s3cret")).toBe(`sha256=${createHmac("sha256", "s3cret").update(body).digest("hex")}`);
  });
});

describe("the retry policy", () => {
  it("retries no answer, 408, 429 and 5xx, and nothing else", () => {
    expect(mayPass({ ok: false, error: "connection failed" })).toBe(true);
    for (const status of [408, 429, 500, 503]) expect(mayPass({ ok: false, status })).toBe(true);
    for (const status of [400, 401, 404, 410]) expect(mayPass({ ok: false, status })).toBe(false);
    expect(mayPass({ ok: true, status: 204 })).toBe(false);
  });

  it("doubles the wait per attempt, jittered between half and all of it, and stops after the last attempt", () => {
    const p = { ...DEFAULT_DELIVERY_POLICY, attempts: 4, baseDelayMs: 1000 };
    expect(retryDelay({ ok: false, status: 503 }, 2, p, 0, () => 0)).toBe(500);
    expect(retryDelay({ ok: false, status: 503 }, 2, p, 0, () => 1)).toBe(1000);
    expect(retryDelay({ ok: false, status: 503 }, 3, p, 0, () => 1)).toBe(2000);
    expect(retryDelay({ ok: false, status: 503 }, 4, p, 0, () => 1)).toBe(4000);
    expect(retryDelay({ ok: false, status: 503 }, 5, p, 0, () => 1)).toBeUndefined();
    expect(retryDelay({ ok: false, status: 404 }, 2, p)).toBeUndefined();
  });

  it("honours a 429's Retry-After in seconds or as a date, up to the cap", () => {
    const p = DEFAULT_DELIVERY_POLICY;
    expect(retryDelay({ ok: false, status: 429, retryAfter: "3" }, 2, p)).toBe(3000);
    expect(retryDelay({ ok: false, status: 429, retryAfter: "3600" }, 2, p)).toBe(p.maxDelayMs);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(retryAfterMs("Thu, 01 Jan 2026 00:00:07 GMT", now)).toBe(7000);
    expect(retryAfterMs("soon", now)).toBeUndefined();
  });
});

describe("what is scrubbed", () => {
  it("removes credentials from URLs, Authorization values and query parameters", () => {
    expect(redactSecrets("GET https://bob:hunter2@reg.example/v2/ failed")).toBe("GET https://[REDACTED]@reg.example/v2/ failed");
    expect(redactSecrets("Authorization: Bearer abc.def-ghi")).toBe("Authorization: Bearer [REDACTED]");
    expect(redactSecrets("https://h/hook?token=xyz&x=1")).toBe("https://h/hook?token=[REDACTED]&x=1");
  });

  it("keeps the last 20 log lines within 2 KiB, without terminal controls", () => {
    const log = Array.from({ length: 50 }, (_, i) => `\x1b[31mline ${i}\x1b[0m ${"z".repeat(150)}`).join("\n");
    const lines = logTailLines(log);
    expect(lines.length).toBeLessThanOrEqual(LOG_TAIL_LINES);
    expect(lines.at(-1)).toMatch(/^line 49 /);
    expect(Buffer.byteLength(lines.join("\n"))).toBeLessThanOrEqual(LOG_TAIL_MAX_BYTES);
    expect(lines.join("\n")).not.toContain("\x1b");
  });

  it("cleans an event's error message and reason", () => {
    const e = scrubEvent({ event: "poll-failing", app: "web", error: { code: "REGISTRY_UNAVAILABLE", message: "https://u:p@r.example \x1b[2J down" }, reason: "x\x07y" });
    expect(e.error?.message).toBe("https://[REDACTED]@r.example  down");
    expect(e.reason).toBe("xy");
  });

  it("names a target by scheme and host only", () => {
    expect(targetName("https://hooks.slack.com/services/T000/B000/XXXX?x=1")).toBe("https://hooks.slack.com");
    expect(targetName("http://user:pw@127.0.0.1:8080/t")).toBe("http://127.0.0.1:8080");
  });
});

describe("which deploy outcome sends which event", () => {
  const before = { deployId: "6", version: "v1", digest: D1, imageId: "sha256:i", slot: "blue" as const, generation: 3, since: "2026-01-01T00:00:00Z" };
  const o = { deployId: "7", app: "web", version: "v2", digest: D2 };

  it("sends deployed for a poll or cli deploy that succeeded, with the release before it", () => {
    expect(outcomeEvent({ ...o, outcome: "succeeded" }, { trigger: "poll", before, durationMs: 1234.4, notes: {} })).toEqual({
      event: "deployed", app: "web", deployId: "7", trigger: "poll", release: { version: "v2", digest: D2 }, previous: { version: "v1", digest: D1 }, durationMs: 1234, outcome: "succeeded",
    });
  });

  it("sends rolled-back for agentctl rollback", () => {
    expect(outcomeEvent({ ...o, outcome: "succeeded" }, { trigger: "rollback", before, durationMs: 1, notes: {} })).toMatchObject({ event: "rolled-back", outcome: "rolled-back", trigger: "rollback" });
  });

  it("sends failed with the error and the log tail", () => {
    const e = outcomeEvent({ ...o, outcome: "failed", error: { code: "GREEN_EXITED", message: "exited" } }, { trigger: "poll", before, durationMs: 1, notes: { logTail: "a\n\nb\n" } });
    expect(e).toMatchObject({ event: "failed", error: { code: "GREEN_EXITED" }, logTail: ["a", "b"] });
  });

  it("sends failed once for a poll's retries of a digest that keeps failing the same way, and again when the failure changes", () => {
    const failed = { ...o, outcome: "failed" as const, error: { code: "PULL_FAILED", message: "503" } };
    const last = { id: "6", app: "web", trigger: "poll" as const, version: "v2", digest: D2, steps: [], outcome: "failed" as const, error: { code: "PULL_FAILED", message: "503" }, startedAt: "2026-01-01T00:00:00Z" };
    expect(outcomeEvent(failed, { trigger: "poll", before, durationMs: 1, notes: {}, last })).toBeUndefined();
    expect(outcomeEvent({ ...failed, error: { code: "ENGINE_UNAVAILABLE", message: "x" } }, { trigger: "poll", before, durationMs: 1, notes: {}, last })?.event).toBe("failed");
    expect(outcomeEvent(failed, { trigger: "cli", before, durationMs: 1, notes: {}, last })?.event).toBe("failed");
    expect(outcomeEvent(failed, { trigger: "poll", before, durationMs: 1, notes: {}, last: { ...last, digest: D1 } })?.event).toBe("failed");
  });

  it("sends nothing for an aborted or unchanged deploy", () => {
    expect(outcomeEvent({ ...o, outcome: "aborted" }, { trigger: "poll", before, durationMs: 1, notes: {} })).toBeUndefined();
    expect(outcomeEvent({ ...o, outcome: "unchanged" }, { trigger: "cli", before, durationMs: 1, notes: {} })).toBeUndefined();
  });
});

describe("poll episodes", () => {
  it("sends one poll-failing for ten failed polls in a row, one poll-recovered when a poll gets an answer, then nothing", () => {
    const episodes = new PollEpisodes();
    const error = { code: "REGISTRY_UNAVAILABLE", message: "503" };
    const sent = [];
    for (let i = 0; i < 10; i++) sent.push(episodes.note("web", { ok: false, error }, 1000 + i));
    sent.push(episodes.note("web", { ok: true, tag: "latest", digest: D1 }, 5000));
    sent.push(episodes.note("web", { ok: true, tag: "latest", digest: D1 }, 6000));
    const events = sent.filter((e) => e !== undefined);
    expect(events.map((e) => e.event)).toEqual(["poll-failing", "poll-recovered"]);
    expect(events[1]).toMatchObject({ durationMs: 4000, reason: "the registry answered again after 10 failed polls" });
  });

  it("keeps apps' episodes apart", () => {
    const episodes = new PollEpisodes();
    const error = { code: "REGISTRY_UNAVAILABLE", message: "503" };
    expect(episodes.note("a", { ok: false, error })?.event).toBe("poll-failing");
    expect(episodes.note("b", { ok: false, error })?.event).toBe("poll-failing");
    expect(episodes.note("a", { ok: false, error })).toBeUndefined();
  });
});

describe("agentctl notify test's lines", () => {
  it("prints one line per target, and a clear line when there is none", () => {
    expect(notifyLines([])).toEqual(["no notify targets are configured (add a notify list to agent.yaml; see the README, Notifications)"]);
    expect(
      notifyLines([
        { target: "https://ntfy.sh", format: "ntfy", ok: true, status: 200, attempts: 1 },
        { target: "http://127.0.0.1:9", format: "json", ok: false, error: "connection failed (ECONNREFUSED)", attempts: 3 },
      ]),
    ).toEqual(["https://ntfy.sh     ntfy     ok (200)  (1 attempt)", "http://127.0.0.1:9  json     failed: connection failed (ECONNREFUSED)  (3 attempts)"]);
  });
});

describe("agentctl notify's arguments", () => {
  const ctx = { json: false, call: () => Promise.reject(new Error("nothing may be sent")) } as unknown as CommandContext;
  const run = (positionals: string[]) => notifyCommand.run({ positionals, flags: new Map() }, ctx);

  it("refuses a missing or unknown action before anything is sent, naming it", async () => {
    await expect(run([])).rejects.toMatchObject({ code: "BAD_ARGUMENT", message: 'notify needs an action: "agentctl notify test"' });
    await expect(run(["frob"])).rejects.toMatchObject({ code: "BAD_ARGUMENT", message: 'action "frob": expected "test"' });
    await expect(run(["test", "extra"])).rejects.toMatchObject({ code: "BAD_ARGUMENT" });
  });
});

describe("the notify config", () => {
  const apps = "apps:\n  web: { image: ghcr.io/acme/web, port: 8000, health: { path: /h } }\n";
  const problems = (yaml: string): string => {
    try {
      parseConfig(yaml + apps);
    } catch (err) {
      if (isAgentError(err, "CONFIG_INVALID")) return err.message;
      throw err;
    }
    throw new Error("config was accepted");
  };

  it("defaults to json and every event", () => {
    const c = parseConfig(`notify:\n  - url: https://ntfy.example/deploys\n${apps}`);
    expect(c.notify).toEqual([{ url: "https://ntfy.example/deploys", format: "json", events: ["deployed", "failed", "rolled-back", "update-available", "poll-failing", "poll-recovered", "postdeploy-failed"] }]);
  });

  it("names the entry and field of each mistake", () => {
    const msg = problems("notify:\n  - url: ftp://x/y\n  - url: https://ok.example\n    format: teams\n    events: [deployed, exploded]\n    secretFile: rel/path\n");
    // Paths are written as everywhere in agent.yaml's errors: list entries by index (apps.web.volumes.0).
    expect(msg).toContain("notify.0.url: expected an http:// or https:// URL, got ftp:// (agent.yaml line 2)");
    expect(msg).toMatch(/notify\.1\.format: .*"json"\|"ntfy"\|"discord"\|"slack" \(agent\.yaml line 4\)/);
    expect(msg).toContain("notify.1.events.1: expected one of deployed, failed, rolled-back, update-available, poll-failing, poll-recovered, postdeploy-failed (agent.yaml line 5)");
    expect(msg).toContain("notify.1.secretFile: must be an absolute path");
  });
});
