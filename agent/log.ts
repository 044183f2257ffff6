// Logging: pino JSON lines on stdout. Under systemd each line starts with a journald priority
// prefix (<3>, <4>, <6>, ...) so `journalctl -p warning` filters them (docs/design.md#journal-priority-prefixes).
import { fstatSync } from "node:fs";
import { pino, type Logger, type DestinationStream } from "pino";

export type { Logger } from "pino";

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

/** A destination that prefixes each JSON line with `<N>`; pino writes exactly one line per call. */
export function journalDestination(out: { write(s: string): unknown }): DestinationStream {
  return {
    write(line: string) {
      const m = LEVEL_RE.exec(line);
      const prio = journalPriority(m ? Number(m[1]) : 30);
      out.write(`<${prio}>${line}`);
    },
  };
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
  destination?: { write(s: string): unknown };
}

export function createLogger(opts: LoggerOptions = {}): Logger {
  const out = opts.destination ?? process.stdout;
  const journal = opts.journal ?? isJournalStream(1);
  const dest: DestinationStream = journal ? journalDestination(out) : { write: (s: string) => void out.write(s) };
  return pino(
    {
      level: opts.level ?? process.env.LOG_LEVEL ?? "info",
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
