// A logger for unit tests whose JSON lines are kept in memory, parsed, to assert what the daemon
// would have written to the journal.
import { createLogger, type Logger } from "../../agent/log.js";

/** The fields of a journal line a test reads; add the ones it checks. */
export interface LoggedLine {
  level: number;
  msg: string;
}

export function capturedLog<T extends LoggedLine = LoggedLine & Record<string, unknown>>(): { lines: T[]; log: Logger } {
  const lines: T[] = [];
  const log = createLogger({ level: "info", format: "json", env: {}, destination: { write: (s: string) => lines.push(JSON.parse(s) as T) } });
  return { lines, log };
}
