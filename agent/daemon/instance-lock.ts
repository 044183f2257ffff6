// One daemon per state file and per control socket. The lock is a listening Unix socket in
// Linux's abstract namespace, named after the file it guards: bind() fails with EADDRINUSE while
// the owner lives, the kernel frees the name the moment the owner dies (kill -9 included), and
// the owner answers a connection with its pid, so the refusal can name it.
//
// Why not a lock file: a pid file or an mtime-based lock (proper-lockfile) outlives a SIGKILLed
// owner until someone judges it stale; flock(2) is not reachable from Node without a native addon.
// Limits: abstract names are per network namespace, so a daemon in another one (a container
// with its own network sharing the state file through a mount) is not seen; and they carry no
// file permissions, so any local user may hold the name first. That blocks the agent's start,
// naming the squatter's pid, but cannot make two daemons write one file.
// https://man7.org/linux/man-pages/man7/unix.7.html ("Abstract sockets")
import { createHash } from "node:crypto";
import { createConnection, createServer, type Server } from "node:net";
import { resolve } from "node:path";
import { realpathOfExisting } from "../config/files.js";
import { AgentError } from "../errors.js";

export type LockKind = "state file" | "control socket";

/** How long the refused daemon waits for the owner to name itself; a live owner answers in microseconds. */
const ANSWER_TIMEOUT_MS = 500;

export interface InstanceLock {
  release(): Promise<void>;
}

/**
 * The abstract socket name guarding `path`: the path with symlinks resolved in its existing part
 * (the file itself may not exist yet), so two spellings of one file share one lock.
 */
export function lockName(kind: LockKind, path: string): string {
  const real = realpathOfExisting(resolve(path));
  const hash = createHash("sha256").update(`${kind}\0${real}`).digest("hex").slice(0, 40);
  return `\0deploy-agent-${kind === "state file" ? "state" : "socket"}-${hash}`;
}

/** Takes the lock on `path`, or throws ALREADY_RUNNING naming the pid that holds it. */
export async function acquireInstanceLock(kind: LockKind, path: string): Promise<InstanceLock> {
  const name = lockName(kind, path);
  // The owner may die between our failed bind and our connect: then its name is free, try again.
  for (let attempt = 0; ; attempt++) {
    const server = createServer((socket) => socket.end(`${process.pid}\n`));
    const bound = await listen(server, name);
    if (bound === true) {
      server.unref();
      return { release: () => new Promise<void>((res) => server.close(() => res())) };
    }
    const holder = await lockHolder(kind, path);
    if (holder !== undefined || attempt >= 2) throw alreadyRunning(kind, path, holder ?? "unknown");
  }
}

/**
 * The pid of the daemon holding the lock on `path`, "unknown" if it holds it but does not say, or
 * undefined when nobody holds it. Read-only: `deploy-agent --check` asks without taking the lock.
 */
export function lockHolder(kind: LockKind, path: string): Promise<number | "unknown" | undefined> {
  return new Promise((res) => {
    const socket = createConnection({ path: lockName(kind, path) });
    let text = "";
    const timer = setTimeout(() => finish("unknown"), ANSWER_TIMEOUT_MS);
    function finish(v: number | "unknown" | undefined) {
      clearTimeout(timer);
      socket.destroy();
      res(v);
    }
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => (text = (text + d).slice(0, 32)));
    socket.on("end", () => finish(/^\d+\n$/.test(text) ? Number(text.trim()) : "unknown"));
    socket.on("error", (err: NodeJS.ErrnoException) => finish(err.code === "ECONNREFUSED" || err.code === "ENOENT" ? undefined : "unknown"));
  });
}

function listen(server: Server, name: string): Promise<true | NodeJS.ErrnoException> {
  return new Promise((res, rej) => {
    server.once("error", (err: NodeJS.ErrnoException) => (err.code === "EADDRINUSE" ? res(err) : rej(err)));
    server.listen({ path: name }, () => res(true));
  });
}

function alreadyRunning(kind: LockKind, path: string, holder: number | "unknown"): AgentError {
  const who = holder === "unknown" ? "another deploy-agent (pid unknown)" : `another deploy-agent (pid ${holder})`;
  return new AgentError("ALREADY_RUNNING", `${who} is already running on the ${kind} ${path}; this one exits without touching it`, {
    hint: "stop the running one first (systemctl stop deploy-agent), give this one its own state and socket, or check a config with deploy-agent --check --config FILE",
  });
}
