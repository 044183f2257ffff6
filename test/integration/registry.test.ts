// registry/ against the real distribution registry 2.8: no auth, htpasswd Basic, and token auth as
// in docs/design.md#token-auth-in-the-tests, with a counting proxy in front to see exactly which requests the client sends.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Config } from "../../agent/config/schema.js";
import { startCountingProxy, type CountingProxy } from "../support/loopback.js";
import { registryTestKit, type RegistryTestKit } from "../support/registry-clients.js";
import { bcryptHash, pushImage, pushIndex, startRegistry, type Pushed, type RegistryServer } from "../support/registry-server.js";
import { startTokenServer, type TokenServer } from "../support/token-server.js";

let kit: RegistryTestKit;
const client: RegistryTestKit["client"] = (opts) => kit.client(opts);

beforeAll(async () => {
  kit = await registryTestKit();
});

afterAll(async () => {
  await kit.cleanup();
});

describe("registry without auth", () => {
  let registry: RegistryServer;
  let proxy: CountingProxy;
  let amd64: Pushed;
  let arm64: Pushed;
  let attestation: Pushed;
  let index: Pushed;
  let image: string;

  beforeAll(async () => {
    registry = await startRegistry({ kind: "none" });
    kit.onCleanup(registry.stop);
    proxy = await startCountingProxy(registry.host);
    kit.onCleanup(proxy.stop);
    image = `${proxy.host}/acme/web`;
    amd64 = await pushImage(registry.url, "acme/web", "v1", { os: "linux", architecture: "amd64" });
    arm64 = await pushImage(registry.url, "acme/web", "arm64-only", { os: "linux", architecture: "arm64", variant: "v8" });
    attestation = await pushImage(registry.url, "acme/web", "attestation", { os: "unknown", architecture: "unknown" });
    for (const tag of ["1.0.0", "1.2.0", "1.10.0", "v1.9.0", "2.0.0-rc.1", "latest", "not-semver"]) {
      await pushImage(registry.url, "acme/web", tag, { os: "linux", architecture: "amd64", variant: tag });
    }
    index = await pushIndex(registry.url, "acme/web", "multi", [
      { manifest: amd64, platform: { os: "linux", architecture: "amd64" } },
      { manifest: arm64, platform: { os: "linux", architecture: "arm64", variant: "v8" } },
      {
        manifest: attestation,
        platform: { os: "unknown", architecture: "unknown" },
        annotations: { "vnd.docker.reference.type": "attestation-manifest", "vnd.docker.reference.digest": amd64.digest },
      },
    ]);
  });

  it("resolves a tag to its manifest digest with a single HEAD", async () => {
    proxy.reset();
    const resolved = await client().resolveTag(image, "v1");
    expect(resolved).toEqual({ image, tag: "v1", digest: amd64.digest, mediaType: "application/vnd.oci.image.manifest.v1+json" });
    expect(proxy.lines()).toEqual(["HEAD /v2/acme/web/manifests/v1"]);
    expect(proxy.requests[0]?.headers.accept).toBe(
      "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, " +
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    );
  });

  it("reports an unknown tag as REGISTRY_NOT_FOUND naming image and tag", async () => {
    await expect(client().resolveTag(image, "nope")).rejects.toMatchObject({
      code: "REGISTRY_NOT_FOUND",
      message: `${image}:nope not found on ${proxy.host}`,
    });
  });

  it("rejects an invalid tag as BAD_ARGUMENT before any request", async () => {
    proxy.reset();
    await expect(client().resolve(image, "-bad")).rejects.toMatchObject({ code: "BAD_ARGUMENT", message: 'track "-bad" is not a valid image tag' });
    expect(proxy.lines()).toEqual([]);
  });

  it("resolves a semver range to the highest satisfying tag", async () => {
    const c = client();
    expect((await c.resolve(image, "^1.0.0")).tag).toBe("1.10.0");
    expect((await c.resolve(image, "~1.9")).tag).toBe("v1.9.0");
    expect((await c.resolve(image, "1.x")).tag).toBe("1.10.0");
    expect((await c.resolve(image, ">=2.0.0-rc.0")).tag).toBe("2.0.0-rc.1");
  });

  it("reports a range no tag satisfies as REGISTRY_NOT_FOUND naming the range and tags seen", async () => {
    const err = await client().resolve(image, "^3").catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "REGISTRY_NOT_FOUND" });
    expect((err as Error).message).toBe(`no tag of ${image} satisfies "^3"; 11 tags seen, highest: 2.0.0-rc.1, 1.10.0, v1.9.0, 1.2.0, 1.0.0`);
  });

  it("lists every tag", async () => {
    expect((await client().listTags(image)).sort()).toEqual(
      ["1.0.0", "1.10.0", "1.2.0", "2.0.0-rc.1", "arm64-only", "attestation", "latest", "multi", "not-semver", "v1", "v1.9.0"].sort(),
    );
  });

  it("picks the platform manifest from an OCI index and verifies the index digest", async () => {
    proxy.reset();
    const resolved = await client({ platform: { os: "linux", architecture: "arm64" } }).resolveTag(image, "multi");
    expect(resolved).toEqual({
      image,
      tag: "multi",
      digest: arm64.digest,
      indexDigest: index.digest,
      mediaType: "application/vnd.oci.image.manifest.v1+json",
    });
    expect(proxy.lines()).toEqual(["HEAD /v2/acme/web/manifests/multi", `GET /v2/acme/web/manifests/${index.digest}`]);
  });

  it("resolves an unchanged index with one HEAD: its platform choice is remembered by index digest", async () => {
    const c = client({ platform: { os: "linux", architecture: "arm64" } });
    const first = await c.resolveTag(image, "multi");
    proxy.reset();
    expect(await c.resolveTag(image, "multi")).toEqual(first);
    expect(proxy.lines()).toEqual(["HEAD /v2/acme/web/manifests/multi"]);
  });

  it("returns the index digest when no platform is given", async () => {
    expect(await client().resolveTag(image, "multi")).toEqual({
      image,
      tag: "multi",
      digest: index.digest,
      mediaType: "application/vnd.oci.image.index.v1+json",
    });
  });

  it("reports an index without the host's platform as REGISTRY_NOT_FOUND naming the platforms it has", async () => {
    await expect(client({ platform: { os: "linux", architecture: "s390x" } }).resolveTag(image, "multi")).rejects.toMatchObject({
      code: "REGISTRY_NOT_FOUND",
      message: `${image}:multi has no linux/s390x image; it has linux/amd64, linux/arm64/v8`,
    });
  });
});

describe("registry with token auth", () => {
  let tokens: TokenServer;
  let registry: RegistryServer;
  let proxy: CountingProxy;
  let pushed: Pushed;
  let image: string;
  let alice: Config;

  beforeAll(async () => {
    tokens = await startTokenServer({ users: { alice: "s3cret" }, refreshTokens: { "idt-alice-1": "alice" } });
    kit.onCleanup(tokens.stop);
    registry = await startRegistry({ kind: "token", realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootcertbundle: tokens.certPath });
    kit.onCleanup(registry.stop);
    proxy = await startCountingProxy(registry.host);
    kit.onCleanup(proxy.stop);
    image = `${proxy.host}/acme/private`;
    const push = `Bearer ${tokens.mint([{ type: "repository", name: "acme/private", actions: ["pull", "push"] }])}`;
    pushed = await pushImage(registry.url, "acme/private", "v1", { os: "linux", architecture: "amd64" }, push);
    alice = kit.config({ [proxy.host]: { username: "alice", passwordFile: await kit.passwordFile("alice", "s3cret") } });
  });

  it("is denied anonymously, then resolves after fetching a token with Basic credentials", async () => {
    tokens.requests.length = 0;
    await expect(client().resolveTag(image, "v1")).rejects.toMatchObject({
      code: "REGISTRY_UNAUTHORIZED",
      message: expect.stringMatching(new RegExp(`^registry ${proxy.host}: denied HEAD of ${image}:v1 \\(HTTP 401\\); tried as anonymous$`)),
    });
    proxy.reset();
    const resolved = await client({ config: alice }).resolveTag(image, "v1");
    expect(resolved.digest).toBe(pushed.digest);
    expect(proxy.lines()).toEqual(["HEAD /v2/acme/private/manifests/v1", "HEAD /v2/acme/private/manifests/v1"]);
    expect(proxy.requests[0]?.headers.authorization).toBeUndefined();
    expect(tokens.requests).toEqual([
      { service: "test-registry", scopes: ["repository:acme/private:pull"], account: null, user: undefined, status: 200 },
      { service: "test-registry", scopes: ["repository:acme/private:pull"], account: "alice", user: "alice", status: 200 },
    ]);
  });

  it("sends exactly one HEAD per resolve once the token is cached", async () => {
    const c = client({ config: alice });
    await c.resolveTag(image, "v1");
    proxy.reset();
    tokens.requests.length = 0;
    expect((await c.resolveTag(image, "v1")).digest).toBe(pushed.digest);
    expect(proxy.lines()).toEqual(["HEAD /v2/acme/private/manifests/v1"]);
    expect(tokens.requests).toEqual([]);
  });

  it("fetches a new token once the cached one's expires_in has passed", async () => {
    tokens.expiresInS = 1;
    try {
      const c = client({ config: alice });
      tokens.requests.length = 0;
      await c.resolveTag(image, "v1");
      await c.resolveTag(image, "v1");
      expect(tokens.requests).toHaveLength(1);
      // The registry would still accept the old token (60 s leeway, docs/design.md#token-auth-in-the-tests); what is under
      // test is the client's cache, so count token requests rather than registry rejections.
      await new Promise((r) => setTimeout(r, 1100));
      proxy.reset();
      await c.resolveTag(image, "v1");
      expect(tokens.requests).toHaveLength(2);
      // The host is known to want a token: the new one is fetched first, so no request is answered 401.
      expect(proxy.lines()).toEqual(["HEAD /v2/acme/private/manifests/v1"]);
      expect(proxy.requests[0]?.headers.authorization).toMatch(/^Bearer /);
    } finally {
      tokens.expiresInS = 300;
    }
  });

  it("keeps a token without expires_in for the spec's default 60 s", async () => {
    tokens.expiresInS = undefined; // as GHCR answers (docs/design.md#token-flow)
    try {
      let now = Date.now();
      const c = client({ config: alice, now: () => now });
      tokens.requests.length = 0;
      await c.resolveTag(image, "v1");
      now += 59_000;
      await c.resolveTag(image, "v1");
      expect(tokens.requests).toHaveLength(1);
      now += 2_000;
      await c.resolveTag(image, "v1");
      expect(tokens.requests).toHaveLength(2);
    } finally {
      tokens.expiresInS = 300;
    }
  });

  it("asks for a token before the first request of another repository on a host known to want one", async () => {
    const c = client({ config: alice });
    await c.resolveTag(image, "v1");
    proxy.reset();
    tokens.requests.length = 0;
    await expect(c.resolveTag(`${proxy.host}/acme/other`, "v1")).rejects.toMatchObject({ code: "REGISTRY_NOT_FOUND" });
    expect(tokens.requests.map((r) => r.scopes)).toEqual([["repository:acme/other:pull"]]);
    expect(proxy.lines()).toEqual(["HEAD /v2/acme/other/manifests/v1"]);
    expect(proxy.requests[0]?.headers.authorization).toMatch(/^Bearer /);
  });

  it("re-authenticates once when the registry rejects the cached token as invalid_token", async () => {
    const c = client({ config: alice });
    await c.resolveTag(image, "v1");
    proxy.reset();
    tokens.requests.length = 0;
    proxy.interceptNext(1, 401, {
      "www-authenticate": `Bearer realm="${tokens.realm}",service="${tokens.service}",scope="repository:acme/private:pull",error="invalid_token"`,
    });
    expect((await c.resolveTag(image, "v1")).digest).toBe(pushed.digest);
    expect(proxy.lines()).toEqual(["HEAD /v2/acme/private/manifests/v1", "HEAD /v2/acme/private/manifests/v1"]);
    expect(tokens.requests).toHaveLength(1);
  });

  it("reports a wrong password as REGISTRY_UNAUTHORIZED naming the registry and the user", async () => {
    const wrong = kit.config({ [proxy.host]: { username: "alice", passwordFile: await kit.passwordFile("wrong", "not-it") } });
    const err = await client({ config: wrong }).resolveTag(image, "v1").catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "REGISTRY_UNAUTHORIZED",
      message: `registry ${proxy.host}: token server ${tokens.realm} refused a token for repository:acme/private:pull (HTTP 401); tried as user "alice" (agent.yaml registries.${proxy.host})`,
      hint: expect.stringContaining(`registries."${proxy.host}".username and passwordFile`),
    });
    expect(JSON.stringify(err)).not.toContain("not-it");
  });

  it("exchanges an identity token from docker login for access tokens with the OAuth2 refresh-token grant", async () => {
    const dockerConfig = await kit.passwordFile("docker-idt.json", JSON.stringify({ auths: { [proxy.host]: { auth: "", identitytoken: "idt-alice-1" } } }));
    const c = client({ config: kit.config({}, dockerConfig) });
    tokens.requests.length = 0;
    proxy.reset();
    expect((await c.resolveTag(image, "v1")).digest).toBe(pushed.digest);
    expect(tokens.requests).toEqual([
      { service: "test-registry", scopes: ["repository:acme/private:pull"], account: null, user: "alice", status: 200, grant: "refresh_token", clientId: "deploy-agent" },
    ]);
    expect(proxy.lines()).toEqual(["HEAD /v2/acme/private/manifests/v1", "HEAD /v2/acme/private/manifests/v1"]);
    expect(await c.engineAuth(image)).toEqual({ identitytoken: "idt-alice-1", serveraddress: proxy.host });
  });

  it("reports an identity token the token server refuses as REGISTRY_UNAUTHORIZED, naming where it came from", async () => {
    const dockerConfig = await kit.passwordFile("docker-idt-bad.json", JSON.stringify({ auths: { [proxy.host]: { identitytoken: "idt-revoked" } } }));
    const err = await client({ config: kit.config({}, dockerConfig) }).resolveTag(image, "v1").catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "REGISTRY_UNAUTHORIZED",
      message: `registry ${proxy.host}: token server ${tokens.realm} refused the identity token for repository:acme/private:pull (HTTP 400); tried as an identity token (${dockerConfig} auths["${proxy.host}"].identitytoken)`,
    });
    expect(JSON.stringify(err)).not.toContain("idt-revoked");
  });

  it("resolves with credentials from a docker credential helper on PATH (credHelpers in config.json)", async () => {
    const bin = await mkdtemp(join(tmpdir(), "deploy-agent-helper-"));
    kit.onCleanup(() => rm(bin, { recursive: true, force: true }));
    await writeFile(
      join(bin, "docker-credential-testpass"),
      `#!/bin/sh\nread -r server\n[ "$1" = get ] && [ "$server" = "${proxy.host}" ] && exec echo '{"Username":"alice","Secret":"s3cret"}'\necho "credentials not found in native keychain"; exit 1\n`,
      { mode: 0o755 },
    );
    const dockerConfig = await kit.passwordFile("docker-helper.json", JSON.stringify({ credHelpers: { [proxy.host]: "testpass" } }));
    const c = client({ config: kit.config({}, dockerConfig), env: { PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}` } });
    tokens.requests.length = 0;
    expect((await c.resolveTag(image, "v1")).digest).toBe(pushed.digest);
    expect(tokens.requests.map((r) => [r.user, r.status])).toEqual([["alice", 200]]);
    expect(await c.engineAuth(image)).toEqual({ username: "alice", password: "s3cret", serveraddress: proxy.host });
  });

  it("hands the Engine the configured credentials for X-Registry-Auth", async () => {
    expect(await client({ config: alice }).engineAuth(image)).toEqual({ username: "alice", password: "s3cret", serveraddress: proxy.host });
    expect(await client().engineAuth(image)).toBeUndefined();
  });
});

describe("registry with htpasswd Basic auth", () => {
  let registry: RegistryServer;
  let pushed: Pushed;
  let available = true;

  beforeAll(async () => {
    try {
      await bcryptHash("probe");
    } catch {
      available = false; // no bcrypt available on this machine: reported, not faked
      return;
    }
    registry = await startRegistry({ kind: "htpasswd", users: { bob: "hunter2" } });
    kit.onCleanup(registry.stop);
    const basic = `Basic ${Buffer.from("bob:hunter2").toString("base64")}`;
    pushed = await pushImage(registry.url, "team/api", "v3", { os: "linux", architecture: "amd64" }, basic);
  });

  it("answers a Basic challenge with the configured credentials", async (ctx) => {
    if (!available) ctx.skip();
    const bob = kit.config({ [registry.host]: { username: "bob", passwordFile: await kit.passwordFile("bob", "hunter2") } });
    const c = client({ config: bob });
    expect((await c.resolveTag(`${registry.host}/team/api`, "v3")).digest).toBe(pushed.digest);
    expect((await c.listTags(`${registry.host}/team/api`))).toEqual(["v3"]);
  });

  it("reports missing and wrong Basic credentials as REGISTRY_UNAUTHORIZED", async (ctx) => {
    if (!available) ctx.skip();
    await expect(client().resolveTag(`${registry.host}/team/api`, "v3")).rejects.toMatchObject({
      code: "REGISTRY_UNAUTHORIZED",
      message: `registry ${registry.host}: requires Basic credentials and none are configured; tried as anonymous`,
    });
    const wrong = kit.config({ [registry.host]: { username: "bob", passwordFile: await kit.passwordFile("bob-wrong", "nope") } });
    await expect(client({ config: wrong }).resolveTag(`${registry.host}/team/api`, "v3")).rejects.toMatchObject({
      code: "REGISTRY_UNAUTHORIZED",
      message: expect.stringContaining(`denied HEAD of ${registry.host}/team/api:v3 (HTTP 401`),
    });
  });
});
