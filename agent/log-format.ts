// The journal's text form of a pino line: the message, then key=value pairs, one line per event.
// It formats pino's serialized JSON, so the redact paths have already replaced every secret.
import { AgentError } from "./errors.js";

export type LogFormat = "json" | "text";

/** The format LOG_FORMAT asks for, or `fallback` when it is unset; anything else is refused. */
export function logFormatFrom(env: NodeJS.ProcessEnv, fallback: LogFormat): LogFormat {
  const v = env.LOG_FORMAT;
  if (v === undefined || v === "") return fallback;
  if (v === "json" || v === "text") return v;
  throw new AgentError("CONFIG_INVALID", `LOG_FORMAT is "${v}"; expected "json" or "text"`, {
    hint: "unset LOG_FORMAT for text on the journal and JSON elsewhere, or fix the unit's Environment=LOG_FORMAT",
  });
}

/** Fields a person reads first, in this order, under these names; the rest follow as pino wrote them. */
const LEAD_KEYS: Array<[string, string]> = [
  ["app", "app"],
  ["deployId", "deploy"],
  ["step", "step"],
  ["version", "version"],
];

/** Written by pino on every line and shown by journalctl already (or constant). */
const OMITTED = new Set(["level", "time", "msg", "svc", "pid", "hostname"]);

const DIGEST_RE = /^(sha256:[0-9a-f]{12})[0-9a-f]{52}$/;
const BARE_RE = /^[^\s"=\\\p{Cc}]+$/u;
// JSON.stringify escapes controls below 0x20 but leaves 0x7f-0x9f (0x9b is a terminal's CSI) as they are.
const HIGH_CONTROL_RE = /[\u007f-\u009f]/g;

/**
 * One pino JSON line → `message key=value …` with no newline inside: a multi-line value (a
 * container's log tail in an error) is escaped as `\n`, so one event stays one journal entry at
 * one priority, and no line printed by a container can pose as an entry of its own.
 */
export function formatLogLine(obj: Record<string, unknown>): string {
  const parts: string[] = [];
  const msg = typeof obj.msg === "string" ? escapeBare(obj.msg) : "";
  if (msg !== "") parts.push(msg);
  for (const [key, name] of LEAD_KEYS) {
    if (obj[key] !== undefined) parts.push(`${name}=${formatValue(key, obj[key])}`);
  }
  const lead = new Set(LEAD_KEYS.map(([k]) => k));
  for (const [key, value] of Object.entries(obj)) {
    if (OMITTED.has(key) || lead.has(key)) continue;
    parts.push(...pairs(key, value, 0));
  }
  return parts.join(" ");
}

/** An object's fields become dotted keys (`platform.os=linux`), two levels deep; deeper ones stay JSON. */
function pairs(key: string, value: unknown, depth: number): string[] {
  if (value === undefined) return [];
  if (depth < 2 && isPlainObject(value) && !isSerializedError(value)) {
    return Object.entries(value).flatMap(([k, v]) => pairs(`${key}.${k}`, v, depth + 1));
  }
  return [`${key}=${formatValue(key, value)}`];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function formatValue(key: string, value: unknown): string {
  if (typeof value === "string") {
    const digest = key === "digest" ? DIGEST_RE.exec(value) : null;
    return quote(digest ? digest[1]! : value);
  }
  if (typeof value === "number" || typeof value === "boolean" || value === null) return String(value);
  if (Array.isArray(value) && value.every((v) => typeof v === "string" || typeof v === "number")) {
    return quote(value.join(","));
  }
  if (isSerializedError(value)) return quote(value.message); // the stack is in LOG_FORMAT=json
  return quote(JSON.stringify(value));
}

/** pino's err serializer output: { type, message, stack }. */
function isSerializedError(v: unknown): v is { message: string } {
  return typeof v === "object" && v !== null && typeof (v as { message?: unknown }).message === "string" && "stack" in v;
}

function quote(s: string): string {
  if (BARE_RE.test(s)) return s;
  return JSON.stringify(s).replace(HIGH_CONTROL_RE, unicodeEscape);
}

/** The message stays unquoted (it is what a person reads first); only control characters are escaped. */
function escapeBare(s: string): string {
  return s.replace(/\p{Cc}/gu, (c) => CONTROL_ESCAPES[c] ?? unicodeEscape(c));
}

const CONTROL_ESCAPES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

function unicodeEscape(c: string): string {
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
}
