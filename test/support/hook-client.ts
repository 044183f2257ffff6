// A caller of the agent's HTTP listener over real TCP: signed and unsigned hooks, an oversized
// body that is refused before it is sent, and a request that trickles until the listener gives up.
import { request } from "node:http";
import { connect, createServer } from "node:net";
import { signBody } from "../../agent/http/signature.js";

export interface HookAnswer {
  status: number;
  text: string;
  headers: Record<string, string | string[] | undefined>;
}

/** A port free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => resolve(typeof a === "object" && a !== null ? a.port : 0));
    });
  });
}

export function httpCall(port: number, method: string, path: string, body = "", headers: Record<string, string> = {}): Promise<HookAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

export function signedHeaders(secret: string, body: string): Record<string, string> {
  return { "X-Hub-Signature-256": signBody(secret, body), "Content-Type": "application/json" };
}

/**
 * Sends a raw request's `head` and `start` of its body, then one byte of `rest` every `gapMs`,
 * and resolves with everything the server wrote until it closed the connection.
 */
export function rawRequest(port: number, head: string, start: string, rest = "", gapMs = 1000): Promise<string> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    let text = "";
    let i = 0;
    s.write(head + start);
    const timer = setInterval(() => {
      if (i < rest.length && !s.destroyed) s.write(rest[i++]!);
    }, gapMs);
    s.on("data", (d: Buffer) => (text += d.toString()));
    s.on("error", () => undefined);
    s.on("close", () => {
      clearInterval(timer);
      resolve(text);
    });
  });
}
