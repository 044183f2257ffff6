import { spawn, spawnSync, type ChildProcessByStdio } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNotifier } from "../../agent/daemon/sd-notify.js";

// A real AF_UNIX datagram socket standing in for PID 1's notify socket. Node cannot open one
// (docs/design.md#readiness-notification), so a python3 helper binds it and prints every datagram as one JSON line.
const RECEIVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("bound"), flush=True)
while True:
    data = s.recv(65536)
    print(json.dumps(data.decode()), flush=True)
`;

const systemdNotify = spawnSync("systemd-notify", ["--version"], { encoding: "utf8" });
const hasSystemdNotify = systemdNotify.error === undefined && systemdNotify.status === 0;
const SKIP_REASON = "systemd-notify is not installed on this host (package systemd); nothing to exercise";
if (!hasSystemdNotify) console.warn(`sd-notify.test.ts: skipping the socket tests: ${SKIP_REASON}`);

interface Warning {
  obj: unknown;
  msg: string;
}

function recordingLog() {
  const warnings: Warning[] = [];
  const log = {
    warn: (obj: unknown, msg: string) => void warnings.push({ obj, msg }),
    debug: () => {},
  };
  return { warnings, log: log as unknown as Parameters<typeof createNotifier>[1] };
}

class NotifySocket {
  readonly messages: string[] = [];
  #waiters: Array<() => void> = [];

  private constructor(
    readonly path: string,
    private readonly proc: ChildProcessByStdio<null, Readable, Readable>,
  ) {}

  static async open(path: string): Promise<NotifySocket> {
    const proc = spawn("python3", ["-c", RECEIVER, path], { stdio: ["ignore", "pipe", "pipe"] });
    const sock = new NotifySocket(path, proc);
    let stderr = "";
    proc.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
    const bound = new Promise<void>((resolve, reject) => {
      proc.once("exit", (code) => reject(new Error(`python3 notify receiver exited with ${code}: ${stderr}`)));
      proc.once("error", reject);
      createInterface({ input: proc.stdout }).on("line", (line) => {
        const text = JSON.parse(line) as string;
        if (text === "bound") return resolve();
        sock.messages.push(text);
        for (const w of sock.#waiters.splice(0)) w();
      });
    });
    await bound;
    return sock;
  }

  /** Resolves with the first datagram containing `needle`; rejects after `deadlineMs`. */
  async waitFor(needle: string, deadlineMs = 10_000): Promise<string> {
    const end = Date.now() + deadlineMs;
    for (;;) {
      const hit = this.messages.find((m) => m.split("\n").includes(needle));
      if (hit !== undefined) return hit;
      const left = end - Date.now();
      if (left <= 0) {
        throw new Error(`no datagram with ${needle} within ${deadlineMs}ms; got ${JSON.stringify(this.messages)}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.proc.kill();
  }
}

describe("createNotifier without $NOTIFY_SOCKET", () => {
  it("sends nothing and reports no watchdog", async () => {
    const { warnings, log } = recordingLog();
    // A command that does not exist would warn if it were ever run.
    const n = createNotifier({ WATCHDOG_USEC: "1000000" }, log, { command: "/nonexistent/systemd-notify" });
    await n.ready("up");
    await n.status("x");
    await n.stopping();
    await n.extendTimeout(60_000, "reconciling web");
    expect(n.watchdogIntervalMs()).toBeUndefined();
    n.startWatchdog()();
    expect(warnings).toEqual([]);
  });
});

describe("createNotifier when systemd-notify is missing", () => {
  it("warns once and never throws", async () => {
    const { warnings, log } = recordingLog();
    const n = createNotifier({ NOTIFY_SOCKET: "/nonexistent.sock" }, log, { command: "/nonexistent/systemd-notify" });
    await n.ready();
    await n.status("still here");
    await n.stopping();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toContain("/nonexistent/systemd-notify not found");
  });
});

describe("createNotifier watchdogIntervalMs", () => {
  it("is half of WATCHDOG_USEC in milliseconds", () => {
    expect(createNotifier({ NOTIFY_SOCKET: "/x", WATCHDOG_USEC: "60000000" }).watchdogIntervalMs()).toBe(30_000);
  });

  it("is undefined when WATCHDOG_PID names another process", () => {
    const env = { NOTIFY_SOCKET: "/x", WATCHDOG_USEC: "60000000", WATCHDOG_PID: String(process.pid + 1) };
    expect(createNotifier(env).watchdogIntervalMs()).toBeUndefined();
  });
});

describe.skipIf(!hasSystemdNotify)(`createNotifier over a real notify socket (skipped if: ${SKIP_REASON})`, () => {
  let dir: string;
  let sock: NotifySocket;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "sd-notify-"));
    sock = await NotifySocket.open(join(dir, "notify.sock"));
  });

  afterAll(async () => {
    sock?.close();
    await rm(dir, { recursive: true, force: true });
  });

  function env(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    return { PATH: process.env.PATH, NOTIFY_SOCKET: sock.path, ...extra };
  }

  it("delivers READY=1 with the status line", async () => {
    const { warnings, log } = recordingLog();
    await createNotifier(env(), log).ready("polling 1 app");
    const msg = await sock.waitFor("READY=1");
    expect(msg.split("\n")).toContain("STATUS=polling 1 app");
    expect(warnings).toEqual([]);
  });

  it("delivers STOPPING=1 and STATUS= updates", async () => {
    const n = createNotifier(env());
    await n.status("deploying web\nstep pull");
    await n.stopping();
    await sock.waitFor("STATUS=deploying web step pull");
    await sock.waitFor("STOPPING=1");
  });

  it("delivers EXTEND_TIMEOUT_USEC in microseconds with the status line", async () => {
    const { warnings, log } = recordingLog();
    await createNotifier(env(), log).extendTimeout(45_000.5, "reconciling web\n(1 of 2)");
    const msg = await sock.waitFor("EXTEND_TIMEOUT_USEC=45000500");
    expect(msg.split("\n")).toContain("STATUS=reconciling web (1 of 2)");
    expect(warnings).toEqual([]);
  });

  it("warns about a zero, negative or non-finite extension and does not send it", async () => {
    const { warnings, log } = recordingLog();
    const n = createNotifier(env(), log);
    for (const ms of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) await n.extendTimeout(ms);
    // Each send waits until the datagram is read, so every refused one would have arrived before this.
    await n.status("after the refused extensions");
    await sock.waitFor("STATUS=after the refused extensions");
    expect(sock.messages.filter((m) => /EXTEND_TIMEOUT_USEC=(0|-|NaN|Inf)/.test(m))).toEqual([]);
    expect(warnings.map((w) => w.msg)).toEqual(Array(4).fill("sd-notify: a timeout extension must be a positive number of milliseconds; not sent"));
  });

  it("pings WATCHDOG=1 from a timer until stopped", async () => {
    const n = createNotifier(env({ WATCHDOG_USEC: "200000" }));
    expect(n.watchdogIntervalMs()).toBe(100);
    const stop = n.startWatchdog();
    try {
      await sock.waitFor("WATCHDOG=1");
    } finally {
      stop();
    }
  });
});
