// The control socket's file: a stale one left by a dead daemon is removed only after checking that
// nobody answers on it, and a new one is bound owner-only before its mode is opened to the group.
import { lstat, unlink } from "node:fs/promises";
import { createConnection } from "node:net";
import type { createServer } from "node:http";
import { AgentError, toAgentError } from "../errors.js";

/** How long a stale-socket probe waits; a live daemon accepts a local connection in microseconds. */
const PROBE_TIMEOUT_MS = 2_000;

/**
 * Removes a socket file left by a daemon that died, after checking nobody answers on it: unlinking
 * a live daemon's socket would orphan it (it keeps running, unreachable) and let two agents deploy.
 */
export async function removeStaleSocket(socketPath: string): Promise<void> {
  let st;
  try {
    st = await lstat(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw new AgentError("INTERNAL", `cannot inspect control socket ${socketPath}: ${(err as Error).message}`, { cause: err });
  }
  if (!st.isSocket()) {
    throw new AgentError("INTERNAL", `control socket path ${socketPath} exists and is not a socket; not removing it`, {
      hint: "move that file away, or set `socket:` in agent.yaml to another path",
    });
  }
  const answer = await probe(socketPath);
  if (answer === "answers") {
    throw new AgentError("INTERNAL", `another process is already answering on control socket ${socketPath}; is another deploy-agent running?`, {
      hint: "systemctl status deploy-agent; stop the other agent, or set `socket:` in agent.yaml to another path",
    });
  }
  if (answer !== "refused") {
    throw new AgentError("INTERNAL", `cannot tell whether control socket ${socketPath} is in use (${answer}); not removing it`, {
      hint: "check who owns the socket, remove it by hand if it is stale",
    });
  }
  try {
    await unlink(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw toAgentError(err);
  }
}

/** "answers" when something accepts a connection, "refused" when nothing listens, else the error or timeout. */
function probe(socketPath: string): Promise<string> {
  return new Promise((resolve) => {
    const sock = createConnection({ path: socketPath });
    const done = (answer: string): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(`no answer within ${PROBE_TIMEOUT_MS}ms`), PROBE_TIMEOUT_MS);
    sock.once("connect", () => done("answers"));
    sock.once("error", (err: NodeJS.ErrnoException) => {
      done(err.code === "ECONNREFUSED" || err.code === "ENOENT" ? "refused" : (err.code ?? err.message));
    });
  });
}

/**
 * Listens with a umask that leaves the socket owner-only, so it is never connectable by others in the
 * moment between bind(2) and the chmod that follows. Node binds synchronously inside listen() outside
 * cluster workers, so the umask is restored before any other code runs.
 */
export function listenPrivately(server: ReturnType<typeof createServer>, socketPath: string, mode: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      reject(new AgentError("INTERNAL", `cannot listen on control socket ${socketPath}: ${err.code ?? err.message}`, { cause: err }));
    };
    server.once("error", onError);
    let previous: number | undefined;
    try {
      previous = process.umask(0o177 | (~mode & 0o777));
    } catch {
      // Worker threads cannot change the umask; the chmod right after listen still applies.
    }
    try {
      server.listen(socketPath, () => {
        server.off("error", onError);
        resolve();
      });
    } finally {
      if (previous !== undefined) process.umask(previous);
    }
  });
}
