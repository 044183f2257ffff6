// Readiness, status and watchdog notifications to systemd (sd_notify(3)) without a native addon.
// Node cannot open AF_UNIX datagram sockets, so each message is one `systemd-notify` child process;
// the unit therefore needs NotifyAccess=all (docs/design.md#readiness-notification).
import { spawn } from "node:child_process";
import type { Logger } from "../log.js";

export interface Notifier {
  /** READY=1 (ends `systemctl start` for Type=notify), optionally with a STATUS= line. */
  ready(status?: string): Promise<void>;
  /** STATUS=<text>, shown by `systemctl status`. */
  status(text: string): Promise<void>;
  /** STOPPING=1: the service manager shows "deactivating" while a deploy step finishes. */
  stopping(): Promise<void>;
  /**
   * EXTEND_TIMEOUT_USEC=: the current start-up (or stop) may take `ms` more from now, beyond
   * TimeoutStartSec= (TimeoutStopSec=), optionally with a STATUS= line. Each call sets a new
   * deadline `ms` from its own arrival, so a long start is covered one bounded step at a time.
   */
  extendTimeout(ms: number, status?: string): Promise<void>;
  /** Half of $WATCHDOG_USEC in ms when systemd expects WATCHDOG=1 from this process, else undefined. */
  watchdogIntervalMs(): number | undefined;
  /** Pings WATCHDOG=1 every watchdogIntervalMs() from the event loop; returns the function that stops it. */
  startWatchdog(): () => void;
}

export interface NotifierOptions {
  /** The program to run; tests point it at a missing path. */
  command?: string;
}

type NotifyLog = Pick<Logger, "warn" | "debug">;

/** STATUS= is one line in the protocol; a newline would start a new (bogus) assignment. */
function oneLine(text: string): string {
  return text.replace(/[\r\n]+/g, " ");
}

/**
 * Every method is a no-op when $NOTIFY_SOCKET is unset (not started by systemd, or Type= is not
 * notify) and none of them throws: a missing or failing systemd-notify is logged, never fatal —
 * systemd itself enforces the consequence (start timeout, watchdog abort).
 */
export function createNotifier(
  env: NodeJS.ProcessEnv = process.env,
  log?: NotifyLog,
  opts: NotifierOptions = {},
): Notifier {
  const command = opts.command ?? "systemd-notify";
  const enabled = Boolean(env.NOTIFY_SOCKET);
  let missing = false;
  let failureLogged = false;

  function send(args: string[]): Promise<void> {
    if (!enabled || missing) return Promise.resolve();
    return new Promise((resolve) => {
      let stderr = "";
      let child;
      try {
        // No --no-block: systemd-notify then waits (≤5 s, sd_notify_barrier) until PID 1 has read
        // the message, so PID 1 can still attribute it to this unit's cgroup (systemd.service(5)).
        child = spawn(command, args, { env, stdio: ["ignore", "ignore", "pipe"] });
      } catch (err) {
        log?.warn({ err, command }, `sd-notify: cannot run ${command}; systemd notifications are off`);
        missing = true;
        resolve();
        return;
      }
      child.stderr?.setEncoding("utf8");
      child.stderr?.on("data", (chunk: string) => {
        if (stderr.length < 2000) stderr += chunk;
      });
      child.once("error", (err: NodeJS.ErrnoException) => {
        if (err.code === "ENOENT") {
          missing = true;
          log?.warn(
            { command },
            `sd-notify: ${command} not found on PATH; readiness and watchdog pings cannot reach systemd ` +
              "(install the systemd package, or use Type=exec and no WatchdogSec= in the unit)",
          );
        } else {
          log?.warn({ err, command }, `sd-notify: running ${command} failed`);
        }
        resolve();
      });
      child.once("close", (code) => {
        if (code !== 0 && code !== null) {
          // Logged at warn once, then at debug: a watchdog ping failing every 30 s must not flood the journal.
          const level = failureLogged ? "debug" : "warn";
          failureLogged = true;
          log?.[level]({ command, args, code, stderr: stderr.trim() }, `sd-notify: ${command} exited with ${code}`);
        }
        resolve();
      });
    });
  }

  function watchdogIntervalMs(): number | undefined {
    if (!enabled) return undefined;
    const usec = Number(env.WATCHDOG_USEC);
    if (!Number.isFinite(usec) || usec <= 0) return undefined;
    // sd_watchdog_enabled(3): WATCHDOG_PID, when set, names the one process that must ping.
    if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== process.pid) return undefined;
    return Math.max(1, Math.floor(usec / 2 / 1000));
  }

  function extendTimeout(ms: number, status?: string): Promise<void> {
    if (!Number.isFinite(ms) || ms <= 0) {
      log?.warn({ ms }, "sd-notify: a timeout extension must be a positive number of milliseconds; not sent");
      return Promise.resolve();
    }
    const args = [`EXTEND_TIMEOUT_USEC=${Math.ceil(ms * 1000)}`];
    return send(status === undefined ? args : [...args, `--status=${oneLine(status)}`]);
  }

  return {
    ready: (status) => send(status === undefined ? ["--ready"] : ["--ready", `--status=${oneLine(status)}`]),
    status: (text) => send([`--status=${oneLine(text)}`]),
    // STOPPING=1 as an assignment: `--stopping` only exists in systemd ≥ 253 (Debian 12 has 252).
    stopping: () => send(["STOPPING=1"]),
    extendTimeout,
    watchdogIntervalMs,
    startWatchdog() {
      const intervalMs = watchdogIntervalMs();
      if (intervalMs === undefined) return () => {};
      // A timer on the main loop, so a wedged loop stops the pings and systemd aborts the process.
      const timer = setInterval(() => void send(["WATCHDOG=1"]), intervalMs);
      timer.unref();
      return () => clearInterval(timer);
    },
  };
}
