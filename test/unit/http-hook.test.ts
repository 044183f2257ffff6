import { request } from "node:http";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseListen } from "../../agent/config/listen.js";
import { TokenBuckets } from "../../agent/http/rate-limit.js";
import { startHttpListener, type HttpListener } from "../../agent/http/server.js";
import { signBody, signatureMatches } from "../../agent/http/signature.js";
import { Secret, silentLogger } from "../../agent/log.js";

describe("hook signature", () => {
  const body = Buffer.from('{"action":"published"}');
  it("accepts GitHub's sha256=<hex> of the body under the secret", () => {
    expect(signatureMatches("k", body, signBody("k", body))).toBe(true);
    expect(signatureMatches("k", body, signBody("k", body).toUpperCase().replace("SHA256=", "sha256="))).toBe(true);
  });
  it("refuses another key, another body, a missing header, a short or malformed one", () => {
    expect(signatureMatches("k", body, signBody("other", body))).toBe(false);
    expect(signatureMatches("k", Buffer.from("{}"), signBody("k", body))).toBe(false);
    expect(signatureMatches("k", body, undefined)).toBe(false);
    expect(signatureMatches("k", body, signBody("k", body).slice(0, -2))).toBe(false);
    expect(signatureMatches("k", body, signBody("k", body).replace("sha256=", "sha1="))).toBe(false);
    expect(signatureMatches("k", body, [signBody("k", body)])).toBe(false);
  });
});

describe("hook rate limit", () => {
  it("allows five calls per app, then answers with the seconds until the next, refilling one per 12 s", () => {
    let now = 1_000_000;
    const b = new TokenBuckets(undefined, () => now);
    for (let i = 0; i < 5; i++) expect(b.take("web")).toEqual({ ok: true });
    expect(b.take("web")).toEqual({ ok: false, retryAfterS: 12 });
    expect(b.take("api")).toEqual({ ok: true });
    now += 11_000;
    expect(b.take("web")).toEqual({ ok: false, retryAfterS: 1 });
    now += 1_000;
    expect(b.take("web")).toEqual({ ok: true });
    expect(b.take("web").ok).toBe(false);
    now += 10 * 60_000;
    for (let i = 0; i < 5; i++) expect(b.take("web")).toEqual({ ok: true });
    expect(b.take("web").ok).toBe(false);
  });
  it("gives nothing back when the clock steps back", () => {
    let now = 1_000_000;
    const b = new TokenBuckets({ burst: 1, refillMs: 12_000 }, () => now);
    expect(b.take("web").ok).toBe(true);
    now -= 3_600_000;
    expect(b.take("web").ok).toBe(false);
  });
});

describe("http.listen", () => {
  it("takes IPv4 and bracketed IPv6 with a port, and refuses names and garbage", () => {
    expect(parseListen("127.0.0.1:9181")).toEqual({ host: "127.0.0.1", port: 9181 });
    expect(parseListen("[::1]:9181")).toEqual({ host: "::1", port: 9181 });
    for (const bad of ["localhost:9181", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "::1:9181", "[nope]:1", "9181", "1.2.3.4:80x"]) {
      expect(parseListen(bad), bad).toHaveProperty("problem");
    }
  });
});

describe("http listener", () => {
  const SECRET = "s3cret";
  const checks: string[] = [];
  let listener: HttpListener;
  let ready = true;
  beforeAll(async () => {
    listener = await startHttpListener({
      listen: { host: "127.0.0.1", port: 0 },
      hookSecret: new Secret(SECRET),
      isApp: (a) => a === "web",
      check: (a) => void checks.push(a),
      ready: () => ready,
      metrics: { contentType: "text/plain; version=0.0.4", text: async () => "up 1\n" },
      log: silentLogger(),
      maxBodyBytes: 1024,
      rate: { burst: 2, refillMs: 60_000 },
    });
  });
  afterAll(() => listener.close());

  function call(method: string, path: string, body = "", headers: Record<string, string> = {}): Promise<{ status: number; text: string; headers: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: listener.address.port, method, path, headers }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text, headers: res.headers }));
      });
      req.on("error", reject);
      req.end(body);
    });
  }
  const signed = (body: string, key = SECRET) => ({ "X-Hub-Signature-256": signBody(key, body) });

  it("answers 401 to a hook without or with a wrong signature, and 404 to a signed one for an unknown app, starting nothing", async () => {
    expect((await call("POST", "/hooks/web", "{}")).status).toBe(401);
    expect((await call("POST", "/hooks/web", "{}", signed("{}", "wrong"))).status).toBe(401);
    expect((await call("POST", "/hooks/nope", "{}")).status).toBe(401);
    const unknown = await call("POST", "/hooks/nope", "{}", signed("{}"));
    expect(unknown).toMatchObject({ status: 404, text: "not found\n" });
    expect(checks).toEqual([]);
  });

  it("answers 413 to a body over the limit and 405 to other methods, starting nothing", async () => {
    const big = "x".repeat(2048);
    expect((await call("POST", "/hooks/web", big, signed(big))).status).toBe(413);
    expect((await call("GET", "/hooks/web")).status).toBe(405);
    expect((await call("POST", "/healthz")).status).toBe(405);
    expect(checks).toEqual([]);
  });

  it("starts a check for a signed hook with 202, then 429 with Retry-After past the limit", async () => {
    expect((await call("POST", "/hooks/web", "{}", signed("{}"))).status).toBe(202);
    expect((await call("POST", "/hooks/web", "a", signed("a"))).status).toBe(202);
    const limited = await call("POST", "/hooks/web", "{}", signed("{}"));
    expect(limited.status).toBe(429);
    expect(Number(limited.headers["retry-after"])).toBeGreaterThan(0);
    expect(checks).toEqual(["web", "web"]);
  });

  it("serves /healthz and /metrics, 404s unknown paths, and names no server software", async () => {
    const health = await call("GET", "/healthz");
    expect(health).toMatchObject({ status: 200, text: "ok\n" });
    expect(health.headers.server).toBeUndefined();
    expect(health.headers["x-powered-by"]).toBeUndefined();
    expect(await call("GET", "/metrics")).toMatchObject({ status: 200, text: "up 1\n" });
    const unknown = await call("GET", "/hooks/../../etc/passwd");
    expect(unknown).toMatchObject({ status: 404, text: "not found\n" });
    expect((await call("GET", "/")).status).toBe(404);
    ready = false;
    expect((await call("GET", "/healthz")).status).toBe(503);
    ready = true;
  });

  it("answers 503 past its connection limit, while the connections it holds stay served", async () => {
    const small = await startHttpListener({ listen: { host: "127.0.0.1", port: 0 }, isApp: () => true, check: () => undefined, ready: () => true, log: silentLogger(), maxConnections: 1 });
    const held = connect(small.address.port, "127.0.0.1");
    await new Promise((r) => held.once("connect", r));
    const refused = await new Promise<string>((resolve) => {
      const s = connect(small.address.port, "127.0.0.1");
      let text = "";
      s.write("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      s.on("data", (d: Buffer) => (text += d.toString()));
      s.on("close", () => resolve(text));
    });
    expect(refused).toMatch(/^HTTP\/1\.1 503 [\s\S]*\r\n\r\nbusy\n$/);
    held.destroy();
    await small.close();
  });

  it("refuses to start on a port already in use, naming http.listen", async () => {
    const second = startHttpListener({ listen: listener.address, isApp: () => true, check: () => undefined, ready: () => true, log: silentLogger() });
    await expect(second).rejects.toMatchObject({ code: "CONFIG_INVALID", message: expect.stringMatching(/^http\.listen: 127\.0\.0\.1:\d+ is already in use/) });
  });

  it("answers 408 and closes a request whose body trickles past the time limit, starting nothing", async () => {
    const before = checks.length;
    const got = await new Promise<string>((resolve) => {
      const s = connect(listener.address.port, "127.0.0.1");
      let text = "";
      const body = "{}";
      s.write(`POST /hooks/web HTTP/1.1\r\nHost: x\r\nX-Hub-Signature-256: ${signBody(SECRET, body)}\r\nContent-Length: ${body.length}\r\n\r\n{`);
      s.on("data", (d: Buffer) => (text += d.toString()));
      s.on("close", () => resolve(text));
    });
    expect(got).toMatch(/^HTTP\/1\.1 408 /);
    expect(checks.length).toBe(before);
  }, 20_000);
});
