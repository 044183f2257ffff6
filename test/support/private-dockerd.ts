// A dockerd of a test file's own, for the faults that take the Engine away (stop, restart, SIGSTOP)
// without touching the machine's dockerd that the other tests use at the same time. It has its own
// data root, exec root (where it starts its own containerd: Debian's docker.io dockerd does unless
// --containerd is given), pidfile and socket; a default bridge of its own, no iptables rules, and
// address pools in a 10.x/16 that no route of the host uses, so its user-defined bridge networks (which
// the routing model reaches by container IP) cannot overlap the main dockerd's.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Dockerode from "dockerode";

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 60_000;
/** Seconds dockerd gives each container to stop on its own shutdown (the fixture ignores SIGTERM as PID 1). */
const SHUTDOWN_TIMEOUT_S = 2;

export interface PrivateDockerd {
  /** The socket to give the agent as docker.socket. */
  socketPath: string;
  /** A client of this dockerd, for the routing model and the test's own checks. */
  docker: Dockerode;
  /** SIGTERM, then waits for dockerd to exit: its containers stop with it, as without live-restore. */
  stop(): Promise<void>;
  /** Starts dockerd again on the same data and waits until it answers. */
  start(): Promise<void>;
  /** SIGSTOP: dockerd stops answering; containerd and the containers run on. */
  freeze(): void;
  /** SIGCONT. */
  resume(): void;
  /** Whether dockerd runs now (stopped or not). */
  running(): boolean;
  /** Removes every container, network and image, stops dockerd, and removes its mounts and dirs. */
  close(): Promise<void>;
}

export async function startPrivateDockerd(prefix = "da-dockerd-"): Promise<PrivateDockerd> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const socketPath = join(dir, "docker.sock");
  const pool = freePool();
  // Its own default bridge, made here: with --bridge=none dockerd deletes the host's docker0 at
  // start (moby's removeDefaultBridgeInterface), which cuts off every container of the main dockerd
  // on the default bridge and fails image builds (their RUN steps use it).
  const bridge = `pd${dir.slice(-6).toLowerCase().replace(/[^a-z0-9]/g, "0")}`;
  execFileSync("ip", ["link", "add", "name", bridge, "type", "bridge"]);
  execFileSync("ip", ["addr", "add", `${pool.replace(/\.0\.0\/16$/, ".255.1/24")}`, "dev", bridge]);
  execFileSync("ip", ["link", "set", bridge, "up"]);
  const args = [
    `--data-root=${join(dir, "data")}`,
    `--exec-root=${join(dir, "exec")}`,
    `--pidfile=${join(dir, "docker.pid")}`,
    `--host=unix://${socketPath}`,
    `--bridge=${bridge}`,
    "--iptables=false",
    "--ip-masq=false",
    "--ip6tables=false",
    `--default-address-pool=base=${pool},size=24`,
    `--shutdown-timeout=${SHUTDOWN_TIMEOUT_S}`,
    // Its own config file would be /etc/docker/daemon.json, which is the main dockerd's.
    `--config-file=${join(dir, "daemon.json")}`,
  ];
  writeFileSync(join(dir, "daemon.json"), "{}\n");
  const docker = new Dockerode({ socketPath });
  const bridges = new Set<string>([bridge]);
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let frozen = false;

  const launch = async (): Promise<void> => {
    const log = openSync(join(dir, "dockerd.log"), "a");
    child = spawn("dockerd", args, { stdio: ["ignore", log, log], detached: true });
    closeSync(log);
    const proc = child;
    exited = new Promise((resolve) => proc.once("exit", () => resolve()));
    const deadline = Date.now() + START_TIMEOUT_MS;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`private dockerd exited at start:\n${logTail(dir)}`);
      if (await docker.ping().then(() => true, () => false)) return;
      if (Date.now() > deadline) throw new Error(`private dockerd did not answer within ${START_TIMEOUT_MS}ms:\n${logTail(dir)}`);
      await sleep(100);
    }
  };
  const running = () => child !== undefined && child.exitCode === null && child.signalCode === null;
  const stop = async (): Promise<void> => {
    if (!running()) return;
    if (frozen) resume();
    // Its bridges outlive it (dockerd leaves them for the next start): noted for close.
    for (const n of await docker.listNetworks().catch(() => [])) if (n.Driver === "bridge") bridges.add(`br-${n.Id.slice(0, 12)}`);
    child!.kill("SIGTERM");
    const timer = sleep(STOP_TIMEOUT_MS).then(() => "timeout" as const);
    if ((await Promise.race([exited, timer])) === "timeout") {
      child!.kill("SIGKILL");
      await exited;
    }
  };
  const resume = (): void => {
    if (running()) child!.kill("SIGCONT");
    frozen = false;
  };

  const onExit = () => {
    if (running()) child!.kill("SIGKILL");
  };
  process.once("exit", onExit);
  try {
    await launch();
  } catch (err) {
    await cleanupDir(dir, bridges);
    throw err;
  }
  return {
    socketPath,
    docker,
    stop,
    start: async () => {
      if (!running()) await launch();
    },
    freeze: () => {
      if (!running()) return;
      child!.kill("SIGSTOP");
      frozen = true;
    },
    resume,
    running,
    close: async () => {
      process.off("exit", onExit);
      if (running()) {
        resume();
        await removeEverything(docker).catch(() => undefined);
        await stop();
      }
      await cleanupDir(dir, bridges);
    },
  };
}

/** Containers (forced), user networks and images: what would otherwise keep mounts and shims alive. */
async function removeEverything(docker: Dockerode): Promise<void> {
  for (const c of await docker.listContainers({ all: true })) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
  for (const n of await docker.listNetworks()) {
    if (!["bridge", "host", "none"].includes(n.Name)) await docker.getNetwork(n.Id).remove().catch(() => undefined);
  }
}

/** Whatever is still mounted under `dir` (deepest first), the bridges dockerd left, then the dir. */
async function cleanupDir(dir: string, bridges: Set<string>): Promise<void> {
  const mounts = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) execQuiet("umount", ["-l", m]);
  for (const b of bridges) execQuiet("ip", ["link", "delete", b]);
  rmSync(dir, { recursive: true, force: true });
}

function execQuiet(cmd: string, args: string[]): void {
  try {
    execFileSync(cmd, args, { stdio: "ignore" });
  } catch {
    // already gone
  }
}

/** A 10.x.0.0/16 that no route of the host touches (the main dockerd's pools are 172.17–31 and 192.168). */
function freePool(): string {
  const used = new Set<number>();
  for (const line of readFileSync("/proc/net/route", "utf8").split("\n").slice(1)) {
    const dest = line.split("\t")[1];
    if (!dest || dest.length !== 8) continue;
    // /proc/net/route holds addresses little-endian in hex: the first octet is the last byte.
    const [b0, b1] = [parseInt(dest.slice(6, 8), 16), parseInt(dest.slice(4, 6), 16)];
    if (b0 === 10) used.add(b1);
  }
  const start = 100 + (process.pid % 100);
  for (let i = 0; i < 150; i++) {
    const second = 100 + ((start - 100 + i) % 150);
    if (!used.has(second)) return `10.${second}.0.0/16`;
  }
  throw new Error("no free 10.x.0.0/16 for a private dockerd's networks");
}

function logTail(dir: string): string {
  try {
    return readFileSync(join(dir, "dockerd.log"), "utf8").split("\n").slice(-20).join("\n");
  } catch {
    return "(no log)";
  }
}
