// The daemon against a registry that authenticates the way GHCR does (Debian's distribution
// registry with token auth, and a token server written in the test: docs/design.md#token-auth-in-the-tests). App "good"
// has the right password in agent.yaml, app "wrong" a wrong one, app "oauth" the identity token a
// `docker login` left in config.json; each reaches the registry through its own counting proxy, so
// each has its own registry host and credentials. The Engine pulls with
// the agent's credentials; a token the registry stops accepting long before its expires_in is
// replaced within the poll, without a failed poll; the wrong password never deploys anything.
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  agentYaml,
  type AgentProcess,
  appStatus,
  deployHistory,
  loggedLines,
  makeAgentDir,
  removeDir,
  servedVersion,
  settledDeploy,
  startAgent,
  storyApp,
  waitFor,
  writeConfig,
} from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { publishVersion, testRunId } from "../support/images.js";
import { startCountingProxy, type CountingProxy } from "../support/loopback.js";
import { startRegistry, type RegistryServer } from "../support/registry-server.js";
import { startTokenServer, type TokenServer } from "../support/token-server.js";
import { startTraefikModel } from "../support/traefik-model.js";

const run = testRunId();
const good = `auth-good-${run}`;
const wrong = `auth-wrong-${run}`;
const oauth = `auth-oauth-${run}`;
const IDENTITY_TOKEN = "idt-for-alice";
const PASSWORD = "s3cret-for-alice";
const WRONG_PASSWORD = "not-alices-password";
const docker = new Dockerode();

let tokens: TokenServer;
let registry: RegistryServer;
let goodProxy: CountingProxy;
let wrongProxy: CountingProxy;
let oauthProxy: CountingProxy;
let agent: AgentProcess;
let traefik: Awaited<ReturnType<typeof startTraefikModel>>;
let dir: string;

const status = (app: string) => appStatus(agent, app);
const history = (app: string) => deployHistory(agent, app);
const serving = (app: string) => servedVersion(traefik.url, `${app}.test`);
const logged = (msg: string, app: string, from = 0) => loggedLines(agent, msg, app, from);

function publish(version: string) {
  return publishVersion({
    repo: `stories/${good}`,
    tag: "latest",
    behaviour: "good",
    version,
    registry: registry.host,
    auth: { username: "alice", password: PASSWORD, serveraddress: registry.host },
  });
}

function secretFile(name: string, secret: string): string {
  const path = join(dir, name);
  writeFileSync(path, `${secret}\n`);
  chmodSync(path, 0o600);
  return path;
}

beforeAll(async () => {
  tokens = await startTokenServer({ users: { alice: PASSWORD }, refreshTokens: { [IDENTITY_TOKEN]: "alice" } });
  // Short-lived tokens until the expiry test: the agent's cache turns over every few seconds.
  tokens.expiresInS = 3;
  registry = await startRegistry({ kind: "token", realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootcertbundle: tokens.certPath });
  goodProxy = await startCountingProxy(registry.host);
  wrongProxy = await startCountingProxy(registry.host);
  oauthProxy = await startCountingProxy(registry.host);
  dir = makeAgentDir();
  const dockerConfig = secretFile("docker-config.json", JSON.stringify({ auths: { [oauthProxy.host]: { auth: "", identitytoken: IDENTITY_TOKEN } } }));
  await publish("v1");
  const apps = agentYaml(
    dir,
    storyApp(good, `${goodProxy.host}/stories/${good}`, run),
    storyApp(wrong, `${wrongProxy.host}/stories/${good}`, run),
    storyApp(oauth, `${oauthProxy.host}/stories/${good}`, run),
  );
  writeConfig(
    dir,
    `${apps}dockerConfig: ${dockerConfig}
registries:
  "${goodProxy.host}": { username: alice, passwordFile: ${secretFile("good-password", PASSWORD)} }
  "${wrongProxy.host}": { username: alice, passwordFile: ${secretFile("wrong-password", WRONG_PASSWORD)} }
`,
  );
  traefik = await startTraefikModel({ docker });
  agent = await startAgent(dir);
}, 180_000);

afterAll(async () => {
  await agent?.stop();
  await traefik?.close();
  for (const stop of [goodProxy?.stop, wrongProxy?.stop, oauthProxy?.stop, registry?.stop, tokens?.stop]) await stop?.();
  await cleanupTestRun();
  if (dir) removeDir(dir);
});

describe("a registry with GHCR-style token auth", () => {
  it("deploys v1 with the configured credentials, and the Engine pulls with them", async () => {
    await waitFor(`${good} to serve v1`, async () => (await serving(good)) === "v1", 90_000);
    // Served before its drain ends: the record is read once the deploy has finished.
    expect(await settledDeploy(agent, good)).toMatchObject({ trigger: "poll", outcome: "succeeded" });
    // The agent's token requests carried alice's Basic credentials (account=alice, as docker does).
    expect(tokens.requests.some((r) => r.user === "alice" && r.account === "alice" && r.status === 200)).toBe(true);
    // The Engine fetched the manifest by digest through the proxy with a bearer token of its own,
    // which it could only get with the credentials the agent handed it (X-Registry-Auth).
    const pulls = goodProxy.requests.filter((r) => /\/manifests\/sha256:/.test(r.url));
    expect(pulls.length, goodProxy.lines().join("\n")).toBeGreaterThan(0);
    expect(pulls.some((r) => r.status === 200 && /^Bearer /.test(String(r.headers.authorization)))).toBe(true);
  });

  it("deploys with an identity token from config.json: the agent and the Engine each trade it for tokens (OAuth2 refresh grant)", async () => {
    await waitFor(`${oauth} to serve v1`, async () => (await serving(oauth)) === "v1", 90_000);
    expect(await settledDeploy(agent, oauth)).toMatchObject({ trigger: "poll", outcome: "succeeded" });
    const grants = tokens.requests.filter((r) => r.grant === "refresh_token" && r.status === 200);
    // client_id "deploy-agent" is the agent's poll; "docker" is the Engine pulling with the identitytoken it was handed.
    expect(new Set(grants.map((r) => r.clientId))).toEqual(new Set(["deploy-agent", "docker"]));
    expect(grants.every((r) => r.user === "alice")).toBe(true);
    expect(agent.lines.join("\n")).not.toContain(IDENTITY_TOKEN);
  });

  it("fails every poll of the app with a wrong password as REGISTRY_UNAUTHORIZED naming the user, and deploys nothing", async () => {
    const last = await waitFor(`a failed poll of ${wrong}`, async () => (await status(wrong)).lastPoll?.error, 30_000);
    expect(last).toMatchObject({
      code: "REGISTRY_UNAUTHORIZED",
      message: expect.stringContaining(`refused a token for repository:stories/${good}:pull (HTTP 401); tried as user "alice" (agent.yaml registries.${wrongProxy.host})`),
    });
    expect(await history(wrong)).toEqual([]);
    expect((await status(wrong)).containers).toEqual([]);
    // One warning for the episode, however many polls failed.
    expect(logged("poll failed", wrong)).toHaveLength(1);
    const everything = agent.lines.join("\n");
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain(WRONG_PASSWORD);
  });

  it("replaces a token the registry stops accepting before its expires_in within the poll, and deploys the next push", async () => {
    const from = agent.lines.length;
    const seenFrom = goodProxy.requests.length;
    // From now on tokens claim 300 s but the registry refuses them after about 10 s (exp 50 s ago,
    // 60 s leeway). The agent's cached 3 s token runs out first and is replaced by such a one.
    tokens.expiresInS = 300;
    tokens.jwtLifetimeS = -50;
    const tokenCount = tokens.requests.length;
    const rejected = await waitFor(
      "a poll HEAD the registry answers 401 invalid_token",
      async () => goodProxy.requests.slice(seenFrom).find((r) => r.method === "HEAD" && r.status === 401 && /invalid_token/.test(r.challenge ?? "")),
      60_000,
    );
    // The same poll fetched a new token and asked again, successfully.
    const retry = await waitFor(
      "the HEAD after the rejection to be answered",
      async () => goodProxy.requests.slice(goodProxy.requests.indexOf(rejected) + 1).find((r) => r.method === "HEAD" && r.url === rejected.url && r.status !== undefined),
      10_000,
    );
    expect(retry.status, goodProxy.lines().slice(seenFrom).join("\n")).toBe(200);
    expect(retry.headers.authorization).not.toBe(rejected.headers.authorization);
    expect(tokens.requests.length).toBeGreaterThan(tokenCount);

    const v2 = await publish("v2");
    await waitFor(`${good} to serve v2`, async () => (await serving(good)) === "v2", 90_000);
    expect(await settledDeploy(agent, good)).toMatchObject({ trigger: "poll", outcome: "succeeded", digest: v2.digest });
    expect((await status(good)).lastPoll?.error).toBeUndefined();
    expect(logged("poll failed", good, from)).toEqual([]);
  }, 180_000);
});
