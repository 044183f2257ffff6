// A loopback proxy in front of the test registry that fails as a test tells it to, either for the
// agent's polls (the tag's manifest) or for the Engine's pulls (manifests by digest, blobs).
import http from "node:http";
import { TEST_REGISTRY } from "./images.js";
import { startScriptedServer, type LoopbackServer } from "./loopback.js";

export type Fault = "500" | "429" | "hang" | "truncated" | "mismatch";

export interface FaultyRegistry extends LoopbackServer {
  /** Fails the agent's polls (`poll`) or the Engine's pulls (`pull`) as `fault` says; `undefined` passes everything. */
  set(fault: Fault | undefined, during?: "poll" | "pull"): void;
  /** Requests held open by `hang`, so a test can wait for one. */
  held(): number;
  /** Ends every held request by cutting its connection, as a registry that went away would. */
  releaseHeld(): void;
}

const errorBody = (code: string, message: string): string => JSON.stringify({ errors: [{ code, message }] });

function isPull(req: http.IncomingMessage): boolean {
  return /\/manifests\/sha256:|\/blobs\/sha256:/.test(req.url ?? "");
}

function isPoll(req: http.IncomingMessage): boolean {
  return /\/manifests\/(?!sha256:)/.test(req.url ?? "") || (req.url ?? "").includes("/tags/list");
}

/** Forwards to the test registry; `alter` may rewrite a complete body before it is sent. */
function forward(req: http.IncomingMessage, res: http.ServerResponse, how: { truncate?: boolean; alter?: boolean; dropDigest?: boolean } = {}): void {
  const [host, port] = TEST_REGISTRY.split(":");
  const upstream = http.request({ host, port: Number(port), method: req.method, path: req.url, headers: req.headers }, (up) => {
    const headers = { ...up.headers };
    if (how.dropDigest) delete headers["docker-content-digest"];
    if (!how.truncate && !how.alter) {
      res.writeHead(up.statusCode ?? 502, headers);
      up.pipe(res);
      return;
    }
    const chunks: Buffer[] = [];
    up.on("data", (c: Buffer) => chunks.push(c));
    up.on("end", () => {
      const body = Buffer.concat(chunks);
      if (how.alter) {
        // Still valid JSON of the same type, but no longer the bytes the digest names.
        const altered = Buffer.concat([body, Buffer.from("\n")]);
        res.writeHead(up.statusCode ?? 502, { ...headers, "content-length": String(altered.length) }).end(altered);
        return;
      }
      // Promises the whole body, sends half of it, then the connection goes.
      res.writeHead(up.statusCode ?? 502, { ...headers, "content-length": String(body.length) });
      res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.destroy());
    });
  });
  upstream.on("error", (err) => (res.headersSent ? res.destroy(err) : res.writeHead(502).end(String(err))));
  upstream.end();
}

export async function startFaultyRegistry(): Promise<FaultyRegistry> {
  let fault: Fault | undefined;
  let during: "poll" | "pull" = "pull";
  const held = new Set<http.ServerResponse>();
  const server = await startScriptedServer((req, res) => {
    const hit = fault !== undefined && (during === "pull" ? isPull(req) : isPoll(req));
    if (!hit) return forward(req, res);
    switch (fault) {
      case "500":
        res.writeHead(500, { "content-type": "application/json" }).end(errorBody("UNKNOWN", "injected by the test proxy"));
        return;
      case "429":
        res.writeHead(429, { "content-type": "application/json", "retry-after": "1" }).end(errorBody("TOOMANYREQUESTS", "injected by the test proxy"));
        return;
      case "hang":
        held.add(res);
        res.on("close", () => held.delete(res));
        return;
      case "truncated":
        // A poll HEAD without Docker-Content-Digest makes the agent GET the manifest, which is cut off.
        if (req.method === "HEAD") return forward(req, res, { dropDigest: true });
        return forward(req, res, { truncate: true });
      case "mismatch":
        if (req.method === "GET" && (req.url ?? "").includes("/manifests/")) return forward(req, res, { alter: true });
        return forward(req, res);
    }
  });
  return {
    ...server,
    set(f, when = "pull") {
      fault = f;
      during = when;
    },
    held: () => held.size,
    releaseHeld() {
      for (const res of held) res.destroy();
      held.clear();
    },
    async stop() {
      for (const res of held) res.destroy();
      await server.stop();
    },
  };
}
