// registry/ against small scripted loopback servers: the faults a real registry rarely shows on
// demand (5xx, 429 with Retry-After, a hang, a reset connection, pagination, a lying digest).
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../../agent/config/schema.js";
import { startScriptedServer } from "../support/loopback.js";
import { registryTestKit, type RegistryTestKit } from "../support/registry-clients.js";

let kit: RegistryTestKit;
const client: RegistryTestKit["client"] = (opts) => kit.client(opts);

beforeAll(async () => {
  kit = await registryTestKit();
});

afterAll(async () => {
  await kit.cleanup();
});

/**
 * A registry of `acme/web` serving tags/list as the given pages, each linking to the next with a
 * `Link: <…>; rel="next"` header, and answering a HEAD of each manifest path in `manifests` with its digest.
 */
async function tagPagesServer(pages: Record<string, { tags: string[]; next?: string }>, manifests: Record<string, string> = {}) {
  const server = await startScriptedServer((req, res) => {
    const digest = manifests[req.url ?? ""];
    if (req.method === "HEAD" && digest !== undefined) {
      return void res.writeHead(200, { "docker-content-digest": digest, "content-type": "application/vnd.oci.image.manifest.v1+json" }).end();
    }
    const page = pages[req.url ?? ""];
    if (page === undefined) return void res.writeHead(404).end();
    const headers: Record<string, string> = { "content-type": "application/json" };
    if (page.next) headers.link = `<${page.next}>; rel="next"`;
    res.writeHead(200, headers).end(JSON.stringify({ name: "acme/web", tags: page.tags }));
  });
  kit.onCleanup(server.stop);
  return server;
}

function withMaxBackoff(config: Config, maxBackoff: number): Config {
  return { ...config, poll: { ...config.poll, maxBackoff } };
}

describe("registry faults from a scripted loopback server", () => {
  const fast = { timeoutMs: 500, retry: { retries: 2, baseDelayMs: 10, maxDelayMs: 2000 } };

  it("reports a 500 as REGISTRY_UNAVAILABLE with the status", async () => {
    const server = await startScriptedServer((_req, res) => res.writeHead(500).end());
    kit.onCleanup(server.stop);
    await expect(client(fast).resolveTag(`${server.host}/acme/web`, "v1")).rejects.toMatchObject({
      code: "REGISTRY_UNAVAILABLE",
      message: `registry ${server.host} answered 500 (server error) to HEAD of ${server.host}/acme/web:v1`,
    });
    expect(server.requests).toHaveLength(1);
  });

  it("gives up on a registry that never answers within the request timeout", { timeout: 5000 }, async () => {
    const server = await startScriptedServer(() => undefined);
    kit.onCleanup(server.stop);
    await expect(client(fast).resolveTag(`${server.host}/acme/web`, "v1")).rejects.toMatchObject({
      code: "REGISTRY_UNAVAILABLE",
      message: `HEAD http://${server.host}/v2/acme/web/manifests/v1: no answer within 500ms`,
    });
  });

  it("retries a 429 after its Retry-After and then resolves", async () => {
    const digest = `sha256:${"a".repeat(64)}`;
    const server = await startScriptedServer((_req, res, i) => {
      if (i === 0) res.writeHead(429, { "retry-after": "1" }).end();
      else res.writeHead(200, { "docker-content-digest": digest, "content-type": "application/vnd.oci.image.manifest.v1+json" }).end();
    });
    kit.onCleanup(server.stop);
    expect((await client(fast).resolveTag(`${server.host}/acme/web`, "v1")).digest).toBe(digest);
    expect(server.requests).toHaveLength(2);
  });

  it("fails fast with the Retry-After when it exceeds the longest wait", async () => {
    const server = await startScriptedServer((_req, res) => res.writeHead(429, { "retry-after": "120" }).end());
    kit.onCleanup(server.stop);
    const c = client(fast);
    await expect(c.resolveTag(`${server.host}/acme/web`, "v1")).rejects.toMatchObject({
      code: "REGISTRY_UNAVAILABLE",
      message: `registry ${server.host} answered 429 (rate limited) to HEAD of ${server.host}/acme/web:v1; Retry-After: 120`,
    });
    await expect(c.resolveTag(`${server.host}/acme/web`, "v2")).rejects.toMatchObject({
      code: "REGISTRY_UNAVAILABLE",
      message: `HEAD http://${server.host}/v2/acme/web/manifests/v2: ${server.host} asked for no requests for another 120s (Retry-After, held at most poll.maxBackoff); not sent`,
    });
    expect(server.requests).toHaveLength(1);
  });

  it("holds a host off for at most poll.maxBackoff whatever its Retry-After says, and sends a manual request at once", async () => {
    const digest = `sha256:${"c".repeat(64)}`;
    let limited = true;
    const server = await startScriptedServer((_req, res) => {
      if (limited) return void res.writeHead(429, { "retry-after": "86400" }).end();
      res.writeHead(200, { "docker-content-digest": digest, "content-type": "application/vnd.oci.image.manifest.v1+json" }).end();
    });
    kit.onCleanup(server.stop);
    let now = Date.now();
    const maxBackoff = 60_000;
    const c = client({ ...fast, now: () => now, config: withMaxBackoff(kit.config(), maxBackoff) });
    const image = `${server.host}/reg7/web`;
    await expect(c.resolveTag(image, "v1")).rejects.toMatchObject({ message: expect.stringContaining("answered 429 (rate limited)") });
    expect(server.requests).toHaveLength(1);
    // A scheduled poll within poll.maxBackoff is not sent, and is told the capped wait, not a day.
    now += maxBackoff - 30_000;
    await expect(c.resolveTag(image, "v1")).rejects.toMatchObject({
      message: `HEAD http://${server.host}/v2/reg7/web/manifests/v1: ${server.host} asked for no requests for another 30s (Retry-After, held at most poll.maxBackoff); not sent`,
    });
    expect(server.requests).toHaveLength(1);
    // agentctl check or deploy: goes out at once, hold or not.
    limited = false;
    expect((await c.resolveTag(image, "v1", { manual: true })).digest).toBe(digest);
    expect(server.requests).toHaveLength(2);
    // Once poll.maxBackoff has passed since the 429, scheduled polls go out again.
    limited = true;
    await expect(c.resolveTag(image, "v1", { manual: true })).rejects.toMatchObject({ message: expect.stringContaining("answered 429") });
    limited = false;
    now += maxBackoff;
    expect((await c.resolveTag(image, "v1")).digest).toBe(digest);
    expect(server.requests).toHaveLength(4);
  });

  it("backs off from a host after a 500: scheduled resolves fail fast, a manual one goes out, an answer ends it", async () => {
    const digest = `sha256:${"d".repeat(64)}`;
    let healthy = false;
    const server = await startScriptedServer((_req, res) => {
      if (!healthy) return void res.writeHead(500).end();
      res.writeHead(200, { "docker-content-digest": digest, "content-type": "application/vnd.oci.image.manifest.v1+json" }).end();
    });
    kit.onCleanup(server.stop);
    let now = Date.now();
    const c = client({ ...fast, now: () => now, failureBackoff: { initialMs: 60_000, maxMs: 600_000 } });
    const image = `${server.host}/acme/web`;
    await expect(c.resolveTag(image, "v1")).rejects.toMatchObject({ message: expect.stringContaining("answered 500") });
    expect(server.requests).toHaveLength(1);
    // Another app on the same registry, within the backoff (at least half of 60 s): nothing is sent.
    now += 29_000;
    await expect(c.resolveTag(`${server.host}/acme/api`, "v1")).rejects.toMatchObject({
      code: "REGISTRY_UNAVAILABLE",
      message: expect.stringMatching(
        new RegExp(`^HEAD http://${server.host}/v2/acme/api/manifests/v1: not sent; ${server.host} failed 1 time in a row \\(last: HTTP 500 to HEAD http://${server.host}/v2/acme/web/manifests/v1\\), next try in \\d+s$`),
      ),
    });
    expect(server.requests).toHaveLength(1);
    // agentctl check: a person asked, so it goes out; a second 500 doubles the backoff.
    await expect(c.resolveTag(image, "v1", { manual: true })).rejects.toMatchObject({ message: expect.stringContaining("answered 500") });
    expect(server.requests).toHaveLength(2);
    now += 61_000; // past the first backoff's ceiling, within the second's floor (60 s of 120 s)
    await expect(c.resolveTag(image, "v1")).rejects.toMatchObject({ message: expect.stringContaining("failed 2 times in a row") });
    expect(server.requests).toHaveLength(2);
    now += 60_000; // past the second backoff's ceiling: tried again, and the registry is back
    healthy = true;
    expect((await c.resolveTag(image, "v1")).digest).toBe(digest);
    expect((await c.resolveTag(`${server.host}/acme/api`, "v1")).digest).toBe(digest);
    expect(server.requests).toHaveLength(4);
  });

  it("backs off from a host that does not answer, so other apps on it do not each wait out the timeout", { timeout: 5000 }, async () => {
    const server = await startScriptedServer(() => undefined);
    kit.onCleanup(server.stop);
    const c = client({ ...fast, failureBackoff: { initialMs: 60_000, maxMs: 600_000 } });
    await expect(c.resolveTag(`${server.host}/acme/web`, "v1")).rejects.toMatchObject({ message: expect.stringContaining("no answer within 500ms") });
    const started = Date.now();
    await expect(c.resolveTag(`${server.host}/acme/api`, "v1")).rejects.toMatchObject({
      message: expect.stringContaining(`not sent; ${server.host} failed 1 time in a row (last: HEAD http://${server.host}/v2/acme/web/manifests/v1: no answer within 500ms)`),
    });
    expect(Date.now() - started).toBeLessThan(400);
    expect(server.requests).toHaveLength(1);
  });

  it("does not count a 404 or a 401 as a failure of the host", async () => {
    const server = await startScriptedServer((_req, res) => res.writeHead(404).end());
    kit.onCleanup(server.stop);
    const c = client({ ...fast, failureBackoff: { initialMs: 60_000, maxMs: 600_000 } });
    for (const tag of ["v1", "v2", "v3"]) await expect(c.resolveTag(`${server.host}/acme/web`, tag)).rejects.toMatchObject({ code: "REGISTRY_NOT_FOUND" });
    expect(server.requests).toHaveLength(3);
  });

  it("reports a 403 as REGISTRY_UNAUTHORIZED with the registry's error", async () => {
    const server = await startScriptedServer((_req, res) =>
      res.writeHead(403, { "content-type": "application/json" }).end('{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}'),
    );
    kit.onCleanup(server.stop);
    await expect(client(fast).listTags(`${server.host}/acme/web`)).rejects.toMatchObject({
      code: "REGISTRY_UNAUTHORIZED",
      message: `registry ${server.host}: denied GET of repository ${server.host}/acme/web (HTTP 403: DENIED: requested access to the resource is denied); tried as anonymous`,
    });
  });

  it("hashes the manifest when a HEAD answer lacks Docker-Content-Digest", async () => {
    const body = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json", config: {}, layers: [] });
    const server = await startScriptedServer((req, res) => {
      const headers = { "content-type": "application/vnd.oci.image.manifest.v1+json" };
      if (req.method === "HEAD") res.writeHead(200, headers).end();
      else res.writeHead(200, headers).end(body);
    });
    kit.onCleanup(server.stop);
    const resolved = await client(fast).resolveTag(`${server.host}/acme/web`, "v1");
    expect(resolved.digest).toBe(`sha256:${createHash("sha256").update(body).digest("hex")}`);
    expect(server.requests.map((r) => r.method)).toEqual(["HEAD", "GET"]);
  });

  it("retries once on a connection the server resets", async () => {
    const digest = `sha256:${"c".repeat(64)}`;
    const server = await startScriptedServer((req, res, i) => {
      if (i === 0) req.socket.destroy();
      else res.writeHead(200, { "docker-content-digest": digest, "content-type": "application/vnd.oci.image.manifest.v1+json" }).end();
    });
    kit.onCleanup(server.stop);
    expect((await client(fast).resolveTag(`${server.host}/acme/web`, "v1")).digest).toBe(digest);
    expect(server.requests).toHaveLength(2);
  });

  it("follows Link rel=next pages of the tag list", async () => {
    const pages: Record<string, { tags: string[]; next?: string }> = {
      "/v2/acme/web/tags/list": { tags: ["a", "b"], next: "/v2/acme/web/tags/list?last=b&n=2" },
      "/v2/acme/web/tags/list?last=b&n=2": { tags: ["c", "d"], next: "/v2/acme/web/tags/list?last=d&n=2" },
      "/v2/acme/web/tags/list?last=d&n=2": { tags: ["e"] },
    };
    const server = await tagPagesServer(pages);
    expect(await client(fast).listTags(`${server.host}/acme/web`)).toEqual(["a", "b", "c", "d", "e"]);
  });

  it("picks a semver range's highest tag across Link pages (Debian's registry 2.8 does not page tags/list)", async () => {
    const digest = `sha256:${"e".repeat(64)}`;
    const pages: Record<string, { tags: string[]; next?: string }> = {
      "/v2/acme/web/tags/list": { tags: ["1.2.0", "v1.9.0", "latest"], next: "/v2/acme/web/tags/list?last=latest&n=3" },
      "/v2/acme/web/tags/list?last=latest&n=3": { tags: ["2.0.0", "1.10.0-rc.1", "1.10.0"] },
    };
    const server = await tagPagesServer(pages, { "/v2/acme/web/manifests/1.10.0": digest });
    expect(await client(fast).resolve(`${server.host}/acme/web`, "^1.2")).toMatchObject({ tag: "1.10.0", digest });
    expect(server.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      "GET /v2/acme/web/tags/list",
      "GET /v2/acme/web/tags/list?last=latest&n=3",
      "HEAD /v2/acme/web/manifests/1.10.0",
    ]);
  });

  it("stops reading a tag list past 10000 tags across pages, naming the repository and the limit", async () => {
    const page = (from: number): string[] => Array.from({ length: 4000 }, (_, i) => `v0.0.${from + i}`);
    const pages: Record<string, { tags: string[]; next?: string }> = {
      "/v2/acme/web/tags/list": { tags: page(0), next: "/v2/acme/web/tags/list?last=a&n=4000" },
      "/v2/acme/web/tags/list?last=a&n=4000": { tags: page(4000), next: "/v2/acme/web/tags/list?last=b&n=4000" },
      "/v2/acme/web/tags/list?last=b&n=4000": { tags: page(8000), next: "/v2/acme/web/tags/list?last=c&n=4000" },
      "/v2/acme/web/tags/list?last=c&n=4000": { tags: page(12000) },
    };
    const server = await tagPagesServer(pages);
    await expect(client(fast).resolve(`${server.host}/acme/web`, "^0.0")).rejects.toMatchObject({
      code: "REGISTRY_UNAVAILABLE",
      message: `repository ${server.host}/acme/web on ${server.host} has more than 10000 tags; the agent reads at most that many to pick a semver track`,
      hint: expect.stringContaining("track a tag"),
    });
    expect(server.requests).toHaveLength(3);
  });

  it("stops reading a tag list past 2 MiB across pages, naming the repository and the limit", async () => {
    const padding = "x".repeat(1_500_000);
    const server = await startScriptedServer((req, res) => {
      const first = req.url === "/v2/acme/web/tags/list";
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (first) headers.link = '</v2/acme/web/tags/list?last=v1&n=1>; rel="next"';
      res.writeHead(200, headers).end(JSON.stringify({ name: "acme/web", tags: [first ? "v1" : "v2"], padding }));
    });
    kit.onCleanup(server.stop);
    await expect(client(fast).listTags(`${server.host}/acme/web`)).rejects.toMatchObject({
      code: "REGISTRY_UNAVAILABLE",
      message: `repository ${server.host}/acme/web on ${server.host} has more than 2097152 bytes of tags; the agent reads at most that many to pick a semver track`,
    });
    expect(server.requests).toHaveLength(2);
  });

  it("puts a registry's error body in the message without escapes and cut to a bound", async () => {
    const body = JSON.stringify({ errors: [{ code: "UNKNOWN", message: `\x1b[2J\x1b]0;x\x07storage failed ${"y".repeat(10_000)}` }] });
    const server = await startScriptedServer((_req, res) => res.writeHead(500, { "content-type": "application/json" }).end(body));
    kit.onCleanup(server.stop);
    const err = (await client(fast).listTags(`${server.host}/acme/web`).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(new RegExp(`^registry ${server.host} answered 500 \\(server error\\) to GET of repository ${server.host}/acme/web: UNKNOWN: storage failed y+ \\[… \\d+ bytes cut\\]$`));
    expect(err.message).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    expect(Buffer.byteLength(err.message)).toBeLessThan(500);
  });

  it("puts a token server's error body in the message without escapes and cut to a bound", async () => {
    let realm = "";
    const server = await startScriptedServer((req, res) => {
      if (req.url?.startsWith("/token")) return void res.writeHead(500).end(`\x1b]0;pwned\x07token backend down ${"q".repeat(10_000)}\n\x1b[2Jsecond line`);
      res.writeHead(401, { "www-authenticate": `Bearer realm="${realm}",service="reg7"` }).end();
    });
    kit.onCleanup(server.stop);
    realm = `http://${server.host}/token`;
    const err = (await client(fast).resolveTag(`${server.host}/reg7/web`, "v1").catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: "REGISTRY_UNAVAILABLE" });
    expect(err.message).toMatch(new RegExp(`^token server ${realm} for ${server.host} answered 500: token backend down q+ \\[… \\d+ bytes cut\\]$`));
    expect(err.message).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  });

  it("refuses an index whose content does not match its digest", async () => {
    const body = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.oci.image.index.v1+json", manifests: [] });
    const claimed = `sha256:${"b".repeat(64)}`;
    const server = await startScriptedServer((_req, res) =>
      res.writeHead(200, { "docker-content-digest": claimed, "content-type": "application/vnd.oci.image.index.v1+json" }).end(body),
    );
    kit.onCleanup(server.stop);
    await expect(client({ ...fast, platform: { os: "linux", architecture: "amd64" } }).resolveTag(`${server.host}/acme/web`, "v1")).rejects.toMatchObject({
      code: "REGISTRY_UNAVAILABLE",
      message: expect.stringContaining(`index ${server.host}/acme/web@${claimed} from ${server.host} has content digest sha256:`),
    });
  });
});
