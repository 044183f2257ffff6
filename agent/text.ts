// Text that comes from outside the agent (container logs, registry error bodies, credential
// helpers) is cut to a bound and stripped of terminal control before it reaches the state file,
// the journal or a terminal: a container must not be able to move a person's cursor or fill a disk.

/** The default bound for one piece of outside text: enough for the last lines of a log. */
export const OUTSIDE_TEXT_MAX_BYTES = 4096;

// ESC sequences (CSI `ESC [ … final`, OSC `ESC ] … BEL|ESC \`, and two-byte ESC x), the 8-bit CSI
// and OSC introducers, then every other C0/C1 control except tab and newline, and DEL.
const ESCAPES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -~]?|\x9b[0-?]*[ -/]*[@-~]|\x9d[^\x07\x9c]*[\x07\x9c]?/g;
const CONTROLS = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/g;

/** `text` without terminal escapes and control characters (tab and newline stay; CR-LF becomes LF). */
export function stripControls(text: string): string {
  return text.replace(/\r\n/g, "\n").replace(ESCAPES, "").replace(CONTROLS, "");
}

/**
 * Outside text made safe to store and print: controls stripped, then cut to at most `maxBytes`
 * of UTF-8. What is cut is said: keeping the end (`tail`, for logs) cuts from the front.
 */
export function cleanText(text: string, maxBytes: number = OUTSIDE_TEXT_MAX_BYTES, keep: "head" | "tail" = "head"): string {
  const clean = stripControls(text);
  const bytes = Buffer.byteLength(clean);
  if (bytes <= maxBytes) return clean;
  const buf = Buffer.from(clean);
  const cut = bytes - maxBytes;
  if (keep === "tail") {
    // Skip UTF-8 continuation bytes so the kept part starts on a character.
    let start = cut;
    while (start < buf.length && ((buf[start] ?? 0) & 0xc0) === 0x80) start++;
    return `[… ${start} bytes cut]\n${buf.subarray(start).toString("utf8")}`;
  }
  let end = maxBytes;
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end--;
  return `${buf.subarray(0, end).toString("utf8")} [… ${bytes - end} bytes cut]`;
}
