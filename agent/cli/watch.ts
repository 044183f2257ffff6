// The refresh loop of `agentctl status --watch`, like watch(1): on a terminal the screen is cleared
// and redrawn each time; into a pipe or file each refresh is appended, so a log of it stays readable.
// A daemon that goes away is shown and asked again at the next tick rather than ending the watch:
// a restart of the agent is exactly when a person wants to keep watching.
import { toAgentError } from "../errors.js";
import { formatDurationMs } from "../config/duration.js";
import { formatTime, type Output } from "./output.js";

/** Cursor home, then erase the whole screen (ECMA-48 CUP and ED 2), as watch(1) and clear(1) do. */
export const CLEAR_SCREEN = "\u001b[H\u001b[2J";
export const DEFAULT_WATCH_INTERVAL_MS = 2000;

export interface WatchLoop {
  /** The lines of one refresh; throws when the daemon cannot be asked. */
  fetch(): Promise<string[]>;
  /** What the title line names: "agentctl status web". */
  title: string;
  intervalMs: number;
  out: Output;
  raw(text: string): void;
  isTTY: boolean;
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** Ctrl-C: ends the loop, which then returns 0. */
  signal: AbortSignal;
}

/** Refreshes until `signal` fires; returns the exit status (0). A bad argument ends it at once: asking again cannot mend it. */
export async function watchLoop(w: WatchLoop): Promise<number> {
  for (let round = 0; !w.signal.aborted; round++) {
    const frame = await untilAborted(settle(w.fetch()), w.signal);
    if (frame === undefined) break;
    if (!frame.ok && frame.error.code === "BAD_ARGUMENT") throw frame.error;
    if (w.isTTY) w.raw(CLEAR_SCREEN);
    else if (round > 0) w.out.line();
    w.out.line(`Every ${formatDurationMs(w.intervalMs)}: ${w.title}    ${formatTime(new Date(w.now()).toISOString())}`);
    w.out.line();
    if (frame.ok) {
      for (const line of frame.lines) w.out.line(line);
    } else {
      w.out.problem(`agentctl: ${frame.error.message}`);
      if (frame.error.hint !== undefined) w.out.problem(`hint: ${frame.error.hint}`);
      w.out.problem(`asking again every ${formatDurationMs(w.intervalMs)}; Ctrl-C to stop`);
    }
    await w.sleep(w.intervalMs, w.signal);
  }
  return 0;
}

type Frame = { ok: true; lines: string[] } | { ok: false; error: ReturnType<typeof toAgentError> };

function settle(p: Promise<string[]>): Promise<Frame> {
  return p.then(
    (lines): Frame => ({ ok: true, lines }),
    (err: unknown): Frame => ({ ok: false, error: toAgentError(err) }),
  );
}

/** `p`'s value, or undefined as soon as `signal` fires: Ctrl-C during a slow answer still exits at once. */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const onAbort = (): void => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    void p.then((v) => {
      signal.removeEventListener("abort", onAbort);
      resolve(v);
    });
  });
}
