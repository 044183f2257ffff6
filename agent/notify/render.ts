// An event as each kind of target expects it: pure functions from the document to a request body,
// its content type and extra headers. Each service's length limits are kept here; what is cut says so.
import { createHmac } from "node:crypto";
import type { NotifyTarget } from "../config/schema.js";
import type { NotifyEvent, ReleaseRef } from "./event.js";

/** The JSON document a `json` target receives (documented in README.md, "Notifications"). */
export interface NotifyDocument extends NotifyEvent {
  /** Version of this document's shape; a change that removes or renames a field raises it. */
  schema: 1;
  /** The host the agent runs on (os.hostname()). */
  host: string;
  /** When the event happened (ISO 8601, UTC). */
  at: string;
}

export interface Rendered {
  body: string;
  contentType: string;
  headers: Record<string, string>;
}

export type NotifyFormat = NotifyTarget["format"];

/** The header GitHub signs webhooks with; receivers written for GitHub check it unchanged. */
export const SIGNATURE_HEADER = "x-hub-signature-256";

/** `sha256=<hex>` of the HMAC-SHA256 of `body` with `secret` (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries). */
export function signature(body: string, secret: string): string {
  return `sha256=${createHmac("sha256", secret).update(body, "utf8").digest("hex")}`;
}

// Limits of each service: ntfy's message body (https://docs.ntfy.sh/publish/#limitations),
// Discord's content and embed fields (https://discord.com/developers/docs/resources/message#embed-object-embed-limits),
// Slack's section text (https://api.slack.com/reference/block-kit/blocks#section).
export const NTFY_MAX_BYTES = 4096;
export const DISCORD_CONTENT_MAX = 2000;
export const DISCORD_TITLE_MAX = 256;
export const DISCORD_DESCRIPTION_MAX = 4096;
export const DISCORD_FIELD_MAX = 1024;
export const SLACK_TEXT_MAX = 3000;

export function render(format: NotifyFormat, doc: NotifyDocument): Rendered {
  switch (format) {
    case "json":
      return { body: JSON.stringify(doc), contentType: "application/json", headers: {} };
    case "ntfy":
      return renderNtfy(doc);
    case "discord":
      return renderDiscord(doc);
    case "slack":
      return renderSlack(doc);
  }
}

/** One line saying what happened, for titles and previews. */
export function headline(doc: NotifyDocument): string {
  const v = doc.release?.version ?? "?";
  switch (doc.event) {
    case "deployed":
      return `${doc.app}: ${v} deployed`;
    case "failed":
      return `${doc.app}: deploy of ${v} failed${doc.error ? ` (${doc.error.code})` : ""}`;
    case "rolled-back":
      return `${doc.app}: rolled back to ${v}`;
    case "update-available":
      return `${doc.app}: ${v} is available`;
    case "poll-failing":
      return `${doc.app}: polling the registry fails`;
    case "poll-recovered":
      return `${doc.app}: polling the registry works again`;
    case "postdeploy-failed":
      return `${doc.app}: ${v} is live, but its postdeploy ${doc.timedOut ? "timed out" : `exited ${doc.exitCode ?? "?"}`}`;
    case "test":
      return `deploy-agent on ${doc.host}: test notification`;
  }
}

const ref = (r: ReleaseRef): string => (r.digest ? `${r.version} (${r.digest.slice(0, 19)})` : r.version);

/** The facts of the event as `label: value` pairs, in the order a person reads them. */
export function facts(doc: NotifyDocument): [string, string][] {
  const out: [string, string][] = [["host", doc.host]];
  if (doc.release) out.push(["release", ref(doc.release)]);
  if (doc.previous) out.push(["previous", ref(doc.previous)]);
  if (doc.trigger) out.push(["trigger", doc.trigger]);
  if (doc.deployId) out.push(["deploy", doc.deployId]);
  if (doc.durationMs !== undefined) out.push(["took", `${(doc.durationMs / 1000).toFixed(1)}s`]);
  if (doc.error) out.push(["error", `${doc.error.code}: ${doc.error.message}`]);
  if (doc.reason) out.push(["reason", doc.reason]);
  if (doc.exitCode !== undefined) out.push(["exit code", `${doc.exitCode}${doc.timedOut ? " (killed at its timeout)" : ""}`]);
  return out;
}

/** `text` cut to `max` UTF-16 units (or UTF-8 bytes with `bytes`), saying it was cut. */
export function cut(text: string, max: number, unit: "chars" | "bytes" = "chars"): string {
  const size = (s: string) => (unit === "bytes" ? Buffer.byteLength(s) : s.length);
  if (size(text) <= max) return text;
  const mark = " […cut]";
  let end = Math.max(0, max - size(mark));
  let head = text.slice(0, end);
  while (head.length > 0 && size(head) > max - size(mark)) head = text.slice(0, --end);
  // Do not leave half of a surrogate pair at the end.
  if (/[\ud800-\udbff]$/.test(head)) head = head.slice(0, -1);
  return head + mark;
}

/** Header values must be printable ASCII: anything else becomes `?`. */
function headerSafe(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, "?");
}

const NTFY_TAGS: Record<NotifyDocument["event"], string> = {
  deployed: "white_check_mark",
  failed: "x",
  "rolled-back": "rewind",
  "update-available": "package",
  "poll-failing": "warning",
  "poll-recovered": "ok",
  "postdeploy-failed": "warning",
  test: "bell",
};

/** ntfy: POST to the topic URL, the message as plain text, Title/Tags/Priority headers (https://docs.ntfy.sh/publish/). */
function renderNtfy(doc: NotifyDocument): Rendered {
  const lines = facts(doc).map(([k, v]) => `${k}: ${v}`);
  if (doc.logTail?.length) lines.push(doc.event === "postdeploy-failed" ? "last output lines:" : "last log lines:", ...doc.logTail);
  const urgent = doc.event === "failed" || doc.event === "rolled-back" || doc.event === "poll-failing" || doc.event === "postdeploy-failed";
  return {
    body: cut(lines.join("\n"), NTFY_MAX_BYTES, "bytes"),
    contentType: "text/plain; charset=utf-8",
    headers: { title: headerSafe(cut(headline(doc), 250)), tags: `${NTFY_TAGS[doc.event]},deploy-agent`, priority: urgent ? "4" : "3" },
  };
}

const DISCORD_COLOUR: Record<NotifyDocument["event"], number> = {
  deployed: 0x2e7d32,
  failed: 0xc62828,
  "rolled-back": 0xef6c00,
  "update-available": 0x1565c0,
  "poll-failing": 0xf9a825,
  "poll-recovered": 0x2e7d32,
  "postdeploy-failed": 0xf9a825,
  test: 0x757575,
};

/** Discord: execute-webhook JSON with `content` and one embed (https://discord.com/developers/docs/resources/webhook#execute-webhook). */
function renderDiscord(doc: NotifyDocument): Rendered {
  const title = headline(doc);
  const fields = facts(doc).map(([name, value]) => ({ name, value: cut(value, DISCORD_FIELD_MAX), inline: value.length <= 40 }));
  const description = doc.logTail?.length ? cut(codeBlock(doc.logTail.join("\n"), DISCORD_DESCRIPTION_MAX - 40), DISCORD_DESCRIPTION_MAX) : undefined;
  const embed = { title: cut(title, DISCORD_TITLE_MAX), color: DISCORD_COLOUR[doc.event], timestamp: doc.at, fields, ...(description ? { description } : {}) };
  // No mention is ever resolved: a log line holding "@everyone" must not ping a server.
  const body = { content: cut(title, DISCORD_CONTENT_MAX), embeds: [embed], allowed_mentions: { parse: [] } };
  return { body: JSON.stringify(body), contentType: "application/json", headers: {} };
}

/** Slack: incoming-webhook JSON with `text` (the notification's preview) and blocks (https://api.slack.com/messaging/webhooks). */
function renderSlack(doc: NotifyDocument): Rendered {
  const title = slackEscape(headline(doc));
  const lines = facts(doc).map(([k, v]) => `*${k}:* ${slackEscape(v)}`);
  const blocks: object[] = [
    { type: "header", text: { type: "plain_text", text: cut(headline(doc), 150) } },
    { type: "section", text: { type: "mrkdwn", text: cut(lines.join("\n"), SLACK_TEXT_MAX) } },
  ];
  if (doc.logTail?.length) blocks.push({ type: "section", text: { type: "mrkdwn", text: cut(codeBlock(slackEscape(doc.logTail.join("\n")), SLACK_TEXT_MAX - 10), SLACK_TEXT_MAX) } });
  return { body: JSON.stringify({ text: cut(title, SLACK_TEXT_MAX), blocks }), contentType: "application/json", headers: {} };
}

/** Slack's mrkdwn gives `&`, `<` and `>` meaning (https://api.slack.com/reference/surfaces/formatting#escaping). */
function slackEscape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** A fenced code block whose content cannot close the fence early; the end of a log is what matters, so the front is cut. */
function codeBlock(text: string, max: number): string {
  const safe = text.replace(/```/g, "'''");
  const room = max - 8;
  const kept = safe.length <= room ? safe : `[…cut] ${safe.slice(safe.length - room + 7)}`;
  return "```\n" + kept + "\n```";
}
