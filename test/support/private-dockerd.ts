// A dockerd of a test file's own, for the faults that take the Engine away (stop, restart, SIGSTOP)
// without touching the machine's dockerd that the other tests use at the same time. It has its own
// data root, exec root (where it starts its own containerd: Debian's docker.io dockerd does unless
// --containerd is given), pidfile and socket, and runs in a network namespace of its own
// (test/support/netns.ts), so its bridges and iptables rules cannot touch the host's. The routing
// model and the agent reach its containers by IP through the namespace's veth; it pulls from the
// test registry on the host's 127.0.0.1:5000 through a forwarder.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import Dockerode from "dockerode";
import { TEST_REGISTRY } from "./images.js";
import { killContainerProcesses, type Netns, openNetns, removeDirAndMounts, sweepNetns } from "./netns.js";

const START_TIMEOUT_MS = 60_000;
const STOP_TIMEOUT_MS = 60_000;
/** Seconds dockerd gives each container to stop on its own shutdown (the fixture ignores SIGTERM as PID 1). */
const SHUTDOWN_TIMEOUT_S = 2;

export interface PrivateDockerd {
  /** The socket to give the agent as docker.socket. */
  socketPath: string;
  /** The socket of the containerd this dockerd started, whose content store (namespace "moby") keeps the manifests it pulled. */
  containerdSocket: string;
  /** A client of this dockerd, for the routing model and the test's own checks. */
  docker: Dockerode;
  /** Makes the host's 127.0.0.1:`port` (a registry of the test's) reachable to this dockerd at the same address. */
  reach(port: number): Promise<void>;
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

/**
 * Starts a private dockerd named after `prefix` (its namespace `<prefix>pd`, its dir
 * `<tmp>/<prefix>pd`): a fixed name, so that what a killed earlier run left is found and removed first.
 */
export async function startPrivateDockerd(prefix: string): Promise<PrivateDockerd> {
  const name = `${prefix}pd`;
  const dir = join(tmpdir(), name);
  sweep(name, dir);
  mkdirSync(dir, { recursive: true });
  const socketPath = join(dir, "docker.sock");
  let netns: Netns;
  try {
    netns = await openNetns(name, dir);
    await netns.reach(Number(TEST_REGISTRY.split(":")[1]));
  } catch (err) {
    sweep(name, dir);
    throw err;
  }
  const args = [
    `--data-root=${join(dir, "data")}`,
    `--exec-root=${join(dir, "exec")}`,
    `--pidfile=${join(dir, "docker.pid")}`,
    `--host=unix://${socketPath}`,
    // Inside its namespace nothing needs NAT or port publishing: the host reaches containers by IP.
    "--iptables=false",
    "--ip-masq=false",
    `--default-address-pool=base=${netns.pool},size=24`,
    `--shutdown-timeout=${SHUTDOWN_TIMEOUT_S}`,
    // Its own config file would be /etc/docker/daemon.json, which is the main dockerd's.
    `--config-file=${join(dir, "daemon.json")}`,
  ];
  writeFileSync(join(dir, "daemon.json"), "{}\n");
  const docker = new Dockerode({ socketPath });
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let frozen = false;

  const launch = async (): Promise<void> => {
    const log = openSync(join(dir, "dockerd.log"), "a");
    // nsenter execs dockerd, so the child's pid is dockerd's own: signals reach it, not a wrapper.
    child = spawn(netns.enter[0]!, [...netns.enter.slice(1), "dockerd", ...args], { stdio: ["ignore", log, log], detached: true });
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
    await netns.close();
    sweep(name, dir);
    throw err;
  }
  return {
    socketPath,
    containerdSocket: join(dir, "exec", "containerd", "containerd.sock"),
    docker,
    reach: (port) => netns.reach(port),
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
      await netns.close();
      sweep(name, dir);
    },
  };
}

/** Takes a dockerd a test made a Swarm manager out of its swarm (forced: it is the last manager), then closes it. */
export async function closeSwarmDockerd(dockerd: PrivateDockerd | undefined): Promise<void> {
  if (!dockerd) return;
  await dockerd.docker.swarmLeave({ force: true }).catch(() => undefined);
  await dockerd.close();
}

/** What a killed run may have left: processes in the namespace, containers' processes, the namespace, mounts, the dir. */
function sweep(name: string, dir: string): void {
  sweepNetns(name);
  killContainerProcesses(join(dir, "data", "containers"));
  removeDirAndMounts(dir);
}

/** Containers (forced) and user networks: what would otherwise keep mounts and shims alive. */
async function removeEverything(docker: Dockerode): Promise<void> {
  for (const c of await docker.listContainers({ all: true })) await docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined);
  for (const n of await docker.listNetworks()) {
    if (!["bridge", "host", "none"].includes(n.Name)) await docker.getNetwork(n.Id).remove().catch(() => undefined);
  }
}

function logTail(dir: string): string {
  try {
    return readFileSync(join(dir, "dockerd.log"), "utf8").split("\n").slice(-20).join("\n");
  } catch {
    return "(no log)";
  }
}
