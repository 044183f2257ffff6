// A Unix-socket proxy in front of the Docker Engine that a test can freeze: while frozen it holds
// every connection, new and open, without forwarding a byte either way, as a hung dockerd would.
// Only the agent under test talks through it; everyone else on the machine keeps the real socket.
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface EngineProxy {
  /** The socket to give the agent as docker.socket. */
  socketPath: string;
  /** Stop answering: bytes in either direction are held until `resume`. */
  freeze(): void;
  /** Answer again: held bytes flow on, new connections are forwarded. */
  resume(): void;
  close(): Promise<void>;
}

export async function startEngineProxy(upstream = "/var/run/docker.sock"): Promise<EngineProxy> {
  const dir = mkdtempSync(join(tmpdir(), "da-engine-proxy-"));
  const socketPath = join(dir, "docker.sock");
  let frozen = false;
  const resumers = new Set<() => void>();
  const sockets = new Set<net.Socket>();

  /** Forwards `from` to `to`, holding chunks while frozen. */
  const pipe = (from: net.Socket, to: net.Socket) => {
    const held: Buffer[] = [];
    const flush = () => {
      for (const chunk of held.splice(0)) to.write(chunk);
    };
    resumers.add(flush);
    from.on("data", (chunk: Buffer) => {
      if (frozen) held.push(chunk);
      else to.write(chunk);
    });
    from.on("close", () => {
      resumers.delete(flush);
      to.destroy();
    });
    from.on("error", () => to.destroy());
  };

  const server = net.createServer((client) => {
    sockets.add(client);
    client.on("close", () => sockets.delete(client));
    const engine = net.connect(upstream);
    sockets.add(engine);
    engine.on("close", () => sockets.delete(engine));
    pipe(client, engine);
    pipe(engine, client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(socketPath, resolve);
  });
  return {
    socketPath,
    freeze: () => {
      frozen = true;
    },
    resume: () => {
      frozen = false;
      for (const r of resumers) r();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
