// Loopback servers for registry tests: a port from the range reserved for them (5100-5199), and
// small scripted HTTP servers that record what they were asked.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createNetServer, type Server as NetServer } from "node:net";

export const PORT_MIN = 5100;
export const PORT_MAX = 5199;

/** Listens `server` on 127.0.0.1 at the first free port of the range, starting at a random offset. */
export async function listenInRange(server: NetServer): Promise<number> {
  const span = PORT_MAX - PORT_MIN + 1;
  const start = Math.floor(Math.random() * span);
  for (let i = 0; i < span; i++) {
    const port = PORT_MIN + ((start + i) % span);
    const ok = await new Promise<boolean>((resolve) => {
      const onError = (): void => {
        server.off("listening", onListening);
        resolve(false); // taken (EADDRINUSE), possibly by a parallel test run: try the next port
      };
      const onListening = (): void => {
        server.off("error", onError);
        resolve(true);
      };
      server.once("error", onError);
      server.once("listening", onListening);
      server.listen(port, "127.0.0.1");
    });
    if (ok) return port;
  }
  throw new Error(`no free port in ${PORT_MIN}-${PORT_MAX} on 127.0.0.1`);
}

/** A port of the range that was free a moment ago, for a child process to listen on. */
export async function freePortInRange(): Promise<number> {
  const probe = createNetServer();
  const port = await listenInRange(probe);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  /** Set by the counting proxy once the answer is known: its status and WWW-Authenticate. */
  status?: number;
  challenge?: string;
}

export interface LoopbackServer {
  /** `127.0.0.1:<port>`, as an image host. */
  host: string;
  port: number;
  requests: RecordedRequest[];
  stop(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, index: number) => void;

/** An HTTP server that records each request and lets `handler` answer it (or never answer). */
export async function startScriptedServer(handler: Handler): Promise<LoopbackServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    req.resume();
    handler(req, res, requests.length - 1);
  });
  const port = await listenInRange(server);
  return { host: `127.0.0.1:${port}`, port, requests, stop: () => closeServer(server) };
}

export interface CountingProxy extends LoopbackServer {
  /** Answers the next `n` requests itself with `status` and `headers`, instead of forwarding them. */
  interceptNext(n: number, status: number, headers: Record<string, string>): void;
  /** Requests as `METHOD /path` strings, for exact assertions. */
  lines(): string[];
  reset(): void;
  /** Forwards later requests to another `127.0.0.1:<port>`. */
  retarget(target: string): void;
}

/** A forwarding proxy in front of `target` (`127.0.0.1:<port>`) that records every request. */
export async function startCountingProxy(target: string): Promise<CountingProxy> {
  let [targetHost, targetPort] = target.split(":");
  const pending: { status: number; headers: Record<string, string> }[] = [];
  const requests: RecordedRequest[] = [];
  const server = createServer((req, res) => {
    const record: RecordedRequest = { method: req.method ?? "", url: req.url ?? "", headers: req.headers };
    requests.push(record);
    const intercept = pending.shift();
    if (intercept) {
      req.resume();
      record.status = intercept.status;
      record.challenge = intercept.headers["www-authenticate"];
      res.writeHead(intercept.status, intercept.headers).end();
      return;
    }
    const upstream = httpRequest(
      { host: targetHost, port: Number(targetPort), method: req.method, path: req.url, headers: req.headers },
      (up) => {
        record.status = up.statusCode;
        const challenge = up.headers["www-authenticate"];
        if (challenge !== undefined) record.challenge = Array.isArray(challenge) ? challenge.join(", ") : challenge;
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on("error", (err) => res.writeHead(502).end(String(err)));
    req.pipe(upstream);
  });
  const port = await listenInRange(server);
  return {
    host: `127.0.0.1:${port}`,
    port,
    requests,
    interceptNext: (n, status, headers) => {
      for (let i = 0; i < n; i++) pending.push({ status, headers });
    },
    lines: () => requests.map((r) => `${r.method} ${r.url}`),
    reset: () => {
      requests.length = 0;
    },
    retarget: (next) => {
      [targetHost, targetPort] = next.split(":");
    },
    stop: () => closeServer(server),
  };
}

export async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
}
