// Logging: pino on stdout, JSON lines or (by default on the journal) text lines; see log-format.ts.
// Under systemd each line starts with a journald priority prefix (<3>, <4>, <6>, ...) so
// `journalctl -p warning` filters them (docs/design.md#journal-priority-prefixes).
import { fstatSync } from "node:fs";
import { pino, type Logger, type DestinationStream } from "pino";
import { formatLogLine, logFormatFrom, type LogFormat } from "./log-format.js";

export type { Logger } from "pino";
export type { LogFormat } from "./log-format.js";

/** Pino level number → syslog priority (sd-daemon.h): fatal=crit, error=err, warn=warning, info, debug. */
export function journalPriority(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

/**
 * True when fd `fd` is the journal stream systemd connected, per systemd.exec(5): compare the
 * "<dev>:<ino>" in $JOURNAL_STREAM with the fd's own, because the variable alone is inherited
 * by children whose output goes elsewhere.
 */
export function isJournalStream(fd: number, env: NodeJS.ProcessEnv = process.env): boolean {
  const expected = env.JOURNAL_STREAM;
  if (!expected) return false;
  try {
    const st = fstatSync(fd, { bigint: true });
    return `${st.dev}:${st.ino}` === expected;
  } catch {
    return false;
  }
}

const LEVEL_RE = /"level":(\d+)/;

/**
 * A destination that prefixes each line with `<N>`; pino writes exactly one JSON line per call.
 * In "text" form the line is rewritten by formatLogLine, which keeps it one line, so the prefix
 * covers the whole event.
 */
export function journalDestination(out: { write(s: string): unknown }, format: LogFormat = "json"): DestinationStream {
  return {
    write(line: string) {
      const parsed = format === "text" ? parseLine(line) : undefined;
      if (parsed) {
        out.write(`<${journalPriority(parsed.level)}>${formatLogLine(parsed)}\n`);
        return;
      }
      const m = LEVEL_RE.exec(line);
      out.write(`<${journalPriority(m ? Number(m[1]) : 30)}>${line}`);
    },
  };
}

const LEVEL_NAMES: Record<number, string> = { 10: "TRACE", 20: "DEBUG", 30: "INFO", 40: "WARN", 50: "ERROR", 60: "FATAL" };

/** Text lines for a terminal or a file: no journal adds the time and the level there, so the line does. */
export function textDestination(out: { write(s: string): unknown }): DestinationStream {
  return {
    write(line: string) {
      const parsed = parseLine(line);
      if (!parsed) return void out.write(line);
      const time = typeof parsed.time === "string" ? `${parsed.time} ` : "";
      out.write(`${time}${LEVEL_NAMES[parsed.level] ?? parsed.level} ${formatLogLine(parsed)}\n`);
    },
  };
}

function parseLine(line: string): (Record<string, unknown> & { level: number }) | undefined {
  try {
    const obj = JSON.parse(line) as unknown;
    if (typeof obj !== "object" || obj === null || typeof (obj as { level?: unknown }).level !== "number") return undefined;
    return obj as Record<string, unknown> & { level: number };
  } catch {
    return undefined;
  }
}

/** Keys whose values are never logged, wherever they appear (pino redact paths). */
export const REDACT_PATHS = [
  "password",
  "token",
  "authorization",
  "auth",
  "*.password",
  "*.token",
  "*.authorization",
  "*.auth",
  "*.headers.authorization",
  "*.*.password",
  "*.*.token",
];

export interface LoggerOptions {
  level?: string;
  journal?: boolean;
  /** Default: LOG_FORMAT, else "text" on the journal and "json" elsewhere. */
  format?: LogFormat;
  env?: NodeJS.ProcessEnv;
  destination?: { write(s: string): unknown };
}

/** Throws when LOG_FORMAT holds anything but "json" or "text". */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const env = opts.env ?? process.env;
  const out = opts.destination ?? process.stdout;
  const journal = opts.journal ?? isJournalStream(1, env);
  const format = opts.format ?? logFormatFrom(env, journal ? "text" : "json");
  const dest: DestinationStream = journal
    ? journalDestination(out, format)
    : format === "text"
      ? textDestination(out)
      : { write: (s: string) => void out.write(s) };
  return pino(
    {
      level: opts.level ?? env.LOG_LEVEL ?? "info",
      base: { svc: "deploy-agent" },
      redact: { paths: REDACT_PATHS, censor: "[REDACTED]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    dest,
  );
}

/** A logger that drops everything; for library calls made outside the daemon. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

/**
 * Holds a secret so that logging, JSON.stringify or util.inspect never shows it.
 * Read it only at the point of use with `reveal()`.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
  }
  reveal(): string {
    return this.#value;
  }
  toJSON(): string {
    return "[REDACTED]";
  }
  toString(): string {
    return "[REDACTED]";
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "Secret([REDACTED])";
  }
}
