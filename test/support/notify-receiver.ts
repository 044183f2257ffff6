// A local HTTP receiver for notifications: it records every request it gets (headers, raw body,
// parsed JSON when it is JSON), checks GitHub-style HMAC signatures, and can be told to answer
// with errors or not at all, to test delivery's retries and timeouts.
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** The body parsed as JSON, when it parses. */
  json?: unknown;
  at: number;
}

export interface NotifyReceiver {
  /** `http://127.0.0.1:<port>`; any path is accepted and recorded. */
  url: string;
  received: Received[];
  /** The next `n` requests get `status` (default 503) instead of 204. */
  failNext(n: number, status?: number): void;
  /** The next `n` requests get no answer until the client gives up. */
  hangNext(n: number): void;
  /** Resolves with the first request (from the start) that `match` accepts, or rejects after `timeoutMs`. */
  waitFor(match: (r: Received) => boolean, timeoutMs?: number): Promise<Received>;
  close(): Promise<void>;
}

/** True when `header` is `sha256=<hex>` of the HMAC-SHA256 of `body` with `secret` (GitHub's X-Hub-Signature-256 form). */
export function signatureMatches(body: string, secret: string, header: string | string[] | undefined): boolean {
  if (typeof header !== "string" || !header.startsWith("sha256=")) return false;
  const want = createHmac("sha256", secret).update(body).digest();
  const got = Buffer.from(header.slice("sha256=".length), "hex");
  return got.length === want.length && timingSafeEqual(got, want);
}

export async function startNotifyReceiver(): Promise<NotifyReceiver> {
  const received: Received[] = [];
  const waiters = new Set<() => void>();
  let failing = 0;
  let failStatus = 503;
  let hanging = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (hanging > 0) {
        hanging--;
        return; // never answered; the socket closes when the client gives up or the server closes
      }
      const body = Buffer.concat(chunks).toString("utf8");
      let json: unknown;
      try {
        json = JSON.parse(body);
      } catch {
        json = undefined;
      }
      if (failing > 0) {
        failing--;
        res.writeHead(failStatus).end("refused for the test");
        return;
      }
      received.push({ path: req.url ?? "/", headers: req.headers, body, ...(json !== undefined ? { json } : {}), at: Date.now() });
      res.writeHead(204).end();
      for (const w of waiters) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    failNext(n, status = 503) {
      failing = n;
      failStatus = status;
    },
    hangNext(n) {
      hanging = n;
    },
    waitFor(match, timeoutMs = 30_000) {
      return new Promise<Received>((resolve, reject) => {
        const check = () => {
          const r = received.find(match);
          if (!r) return;
          cleanup();
          resolve(r);
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no matching notification within ${timeoutMs} ms; received: ${received.map((r) => r.body.slice(0, 200)).join(" | ") || "none"}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    close() {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
