// What leaves the host in a notification is outside text made safe (agent/text.ts) and stripped of
// anything that looks like a credential, since error messages may quote a URL or a header.
import { cleanText, stripControls } from "../text.js";
import type { NotifyEvent } from "./event.js";

/** Lines of a failed release's log a notification carries, and their bound in bytes. */
export const LOG_TAIL_LINES = 20;
export const LOG_TAIL_MAX_BYTES = 2048;
const MESSAGE_MAX_BYTES = 2048;

/** `text` without URL user-info (`https://user:pass@host`) and without the value of Bearer/Basic credentials. */
export function redactSecrets(text: string): string {
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]*@/gi, "$1[REDACTED]@")
    .replace(/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/g, "$1 [REDACTED]")
    .replace(/\b(password|passwd|token|secret|access_token)=([^\s&]+)/gi, "$1=[REDACTED]");
}

/** The last LOG_TAIL_LINES lines of `log`, each cleaned, the whole at most LOG_TAIL_MAX_BYTES (the front is cut). */
export function logTailLines(log: string): string[] {
  const lines = stripControls(log).split("\n").filter((l) => l.trim() !== "").slice(-LOG_TAIL_LINES);
  const kept: string[] = [];
  let bytes = 0;
  for (const line of lines.reverse().map(redactSecrets)) {
    const size = Buffer.byteLength(line) + 1;
    if (bytes + size > LOG_TAIL_MAX_BYTES) {
      if (kept.length === 0) kept.push(cleanText(line, LOG_TAIL_MAX_BYTES - 32, "tail"));
      break;
    }
    kept.push(line);
    bytes += size;
  }
  return kept.reverse();
}

/** The event with every text that came from outside cleaned, bounded and redacted. */
export function scrubEvent(event: NotifyEvent): NotifyEvent {
  const out: NotifyEvent = { ...event };
  if (event.error) out.error = { ...event.error, message: redactSecrets(cleanText(event.error.message, MESSAGE_MAX_BYTES)), ...(event.error.hint ? { hint: redactSecrets(cleanText(event.error.hint, 512)) } : {}) };
  if (event.reason !== undefined) out.reason = redactSecrets(cleanText(event.reason, MESSAGE_MAX_BYTES));
  if (event.logTail) out.logTail = logTailLines(event.logTail.join("\n"));
  return out;
}
