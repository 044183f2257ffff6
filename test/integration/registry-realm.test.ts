// The token realm rule against a real token server: a realm the registry may not name gets no
// request at all, while the same realm named by a registry on this host is asked for a token.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Authenticator } from "../../agent/registry/auth.js";
import { RegistryHttp } from "../../agent/registry/http.js";
import { Secret, silentLogger } from "../../agent/log.js";
import { startTokenServer, type TokenServer } from "../support/token-server.js";

let tokens: TokenServer;
let http: RegistryHttp;
let auth: Authenticator;
const scope = "repository:reg7/web:pull";

beforeAll(async () => {
  tokens = await startTokenServer({ users: { alice: "s3cret" } });
  http = new RegistryHttp({ timeoutMs: 2000, log: silentLogger() });
  auth = new Authenticator({
    http,
    credentials: async () => ({ kind: "password", username: "alice", password: new Secret("s3cret"), source: "agent.yaml registries" }),
    log: silentLogger(),
    now: Date.now,
  });
});

afterAll(async () => {
  await http.close();
  await tokens.stop();
});

describe("token realm named by a registry", () => {
  it.each([
    ["a public https registry", "https://registry.example.com"],
    ["an https registry on a private address", "https://10.0.0.5:5000"],
  ])("refuses the loopback plain-http realm %s names, sending it nothing", async (_what, registry) => {
    tokens.requests.length = 0;
    const challenge = { scheme: "bearer" as const, realm: tokens.realm, service: tokens.service };
    const err = (await auth.authorize(new URL(registry), scope, [challenge]).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: "REGISTRY_UNAUTHORIZED" });
    const host = new URL(registry).host;
    expect(err.message).toBe(
      `registry ${host} named token realm ${tokens.realm}, which the agent refuses: it is plain http, which the agent uses only when both the registry and the realm are on loopback; nothing was sent to it (tried as user "alice" (agent.yaml registries))`,
    );
    expect(JSON.stringify(err)).not.toContain("s3cret");
    expect(tokens.requests).toEqual([]);
  });

  it("asks the same realm for a token when a plain-http registry on loopback names it", async () => {
    tokens.requests.length = 0;
    const challenge = { scheme: "bearer" as const, realm: tokens.realm, service: tokens.service };
    const got = await auth.authorize(new URL("http://127.0.0.1:5000"), scope, [challenge]);
    expect(got.value.reveal()).toMatch(/^Bearer ey/);
    expect(tokens.requests.map((r) => [r.user, r.scopes, r.status])).toEqual([["alice", [scope], 200]]);
  });
});
