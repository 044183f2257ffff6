// An HTTP proxy on a Unix socket in front of the Docker Engine that fails or holds only the
// requests a test picks (say, the list of networks), and forwards every other one untouched: an
// Engine that answers most calls but errors or hangs on one, which engine-proxy.ts (all or
// nothing, at the byte level) cannot show. Only the agent under test talks through it.
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** What the proxy does with a picked request: forward it, answer 500 as a failing Engine would, or never answer. */
export type FaultMode = "forward" | "fail" | "hang";

export interface EngineFaultProxy {
  /** The socket to give the agent as docker.socket. */
  socketPath: string;
  /** The message of the 500 answer, as the Engine's JSON `message`. */
  readonly failMessage: string;
  /** How picked requests are treated from now on; held ones stay held until the client gives up. */
  setMode(mode: FaultMode): void;
  /** How many picked requests were failed or held so far: proof the fault was met. */
  faulted(): number;
  close(): Promise<void>;
}

export async function startEngineFaultProxy(pick: (method: string, url: string) => boolean, upstream = "/var/run/docker.sock"): Promise<EngineFaultProxy> {
  const dir = mkdtempSync(join(tmpdir(), "da-engine-fault-"));
  const socketPath = join(dir, "docker.sock");
  const failMessage = "injected fault: the Engine failed this call";
  let mode: FaultMode = "forward";
  let faulted = 0;

  const server = http.createServer((req, res) => {
    if (mode !== "forward" && pick(req.method ?? "GET", req.url ?? "/")) {
      faulted++;
      // Held: nothing is written; the socket closes when the client aborts or the proxy closes.
      if (mode === "hang") return;
      res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ message: failMessage }));
      return;
    }
    const up = http.request({ socketPath: upstream, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      // Node holds headers until the first body byte; the Engine's event stream sends none while idle.
      res.flushHeaders();
      answer.pipe(res);
    });
    up.on("error", () => res.destroy());
    res.on("close", () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, resolve);
  });
  return {
    socketPath,
    failMessage,
    setMode: (m) => {
      mode = m;
    },
    faulted: () => faulted,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
