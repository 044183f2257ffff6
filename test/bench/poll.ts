// npm run bench (second part): one poll round of 100 apps against the local registry with nothing
// changed (issue 3). 100 repos hold the same small good fixture; the apps point at them through a
// counting loopback proxy, so every registry request of the round is seen. The real daemon deploys
// all 100 at its first poll; then `agentctl check` polls them all, and the bench prints each
// round's wall time, the requests it sent (target: exactly 100 HEADs plus token requests) and the
// daemon's RSS after it. Rounds: the registry without auth; then the same repositories behind
// GHCR-style token auth, first cold, then with fresh tokens, then after they all expired.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import Dockerode from "dockerode";
import { agentctl, makeAgentDir, removeDir, rssMb, sleep, startAgent, writeConfig, type AgentProcess } from "../support/agent.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { TEST_REGISTRY, TEST_REGISTRY_STORAGE, TEST_RUN_LABEL, publishVersion, testRunId } from "../support/images.js";
import { startCountingProxy, type CountingProxy } from "../support/loopback.js";
import { startRegistry } from "../support/registry-server.js";
import { startTokenServer, type TokenServer } from "../support/token-server.js";

const APPS = Number(process.env.BENCH_POLL_APPS ?? 100);
const CONCURRENCY = 8;
/** Pushes of the same local image under many names: the layers already exist, only the manifests go up. */
const PUSH_PARALLEL = 5;
/** Lifetime of the token auth rounds' tokens: GHCR's (it sends no expires_in; the spec's default is 60 s). */
const TOKEN_LIFETIME_S = 60;
const DEPLOY_TIMEOUT_MS = Number(process.env.BENCH_POLL_DEPLOY_TIMEOUT_MS ?? 20 * 60_000);

interface StatusApp {
  app: string;
  live?: { digest: string };
  running?: { step: string };
  lastPoll?: { error?: { message: string } };
}
interface CheckRes {
  app: string;
  result: string;
  detail: string;
}
interface StateFile {
  apps: Record<string, { history: { id: string; outcome: string; error?: { message: string } }[] }>;
}

async function parallel<T>(items: T[], n: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** What a request was, for the count: the poll's HEAD of a tag's manifest, or something else by kind. */
function kind(method: string, url: string): string {
  const path = url.split("?")[0] ?? url;
  if (/^\/v2\/.+\/manifests\/sha256:[0-9a-f]{64}$/.test(path)) return `${method} manifest by digest`;
  if (/^\/v2\/.+\/manifests\/[^/]+$/.test(path)) return `${method} manifest by tag`;
  if (/^\/v2\/.+\/blobs\//.test(path)) return `${method} blob`;
  if (/^\/v2\/.+\/tags\/list$/.test(path)) return `${method} tags/list`;
  if (path === "/v2/" || path === "/v2") return `${method} /v2/ (ping)`;
  if (/token/i.test(path)) return `${method} token`;
  return `${method} other`;
}

/** Waits until every app is live and no deploy runs; prints progress; fails early when a deploy failed. */
async function waitAllLive(agent: AgentProcess, apps: string[], started: number): Promise<void> {
  const deadline = Date.now() + DEPLOY_TIMEOUT_MS;
  let lastPrint = 0;
  for (;;) {
    const r = await agentctl(agent, ["status"], { json: true });
    const report = r.json as { apps: StatusApp[] } | undefined;
    if (r.code === 0 && report) {
      const live = report.apps.filter((a) => a.live).length;
      const running = report.apps.filter((a) => a.running).length;
      if (live === apps.length && running === 0) {
        console.log(`  all ${live} apps live after ${((performance.now() - started) / 1000).toFixed(1)}s`);
        return;
      }
      const state = JSON.parse(readFileSync(`${agent.dir}/state.json`, "utf8")) as StateFile;
      const failed = report.apps.filter((a) => !a.running && !a.live && state.apps[a.app]?.history[0]?.outcome === "failed");
      const pollFailed = report.apps.filter((a) => !a.running && !a.live && a.lastPoll?.error);
      if (failed.length + pollFailed.length > 0 && running === 0) {
        const why = [...failed.map((a) => `${a.app}: deploy ${state.apps[a.app]!.history[0]!.error?.message ?? "failed"}`), ...pollFailed.map((a) => `${a.app}: poll ${a.lastPoll!.error!.message}`)];
        throw new Error(`${why.length} app(s) did not go live:\n${why.slice(0, 10).join("\n")}`);
      }
      if (Date.now() - lastPrint > 15_000) {
        lastPrint = Date.now();
        console.log(`  ${((performance.now() - started) / 1000).toFixed(0)}s: ${live}/${apps.length} live, ${running} deploying`);
      }
    }
    if (Date.now() > deadline) throw new Error(`not every app live within ${DEPLOY_TIMEOUT_MS / 1000}s (status exit ${r.code}: ${r.stderr.trim()})`);
    await sleep(3_000);
  }
}

async function main(): Promise<void> {
  const benchStart = performance.now();
  const run = testRunId();
  const indices = Array.from({ length: APPS }, (_, i) => i);
  const repo = (i: number) => `bench-poll/app-${i}-${run}`;
  // Container names are <app>-blue/-green on an engine others use: the run id keeps them apart.
  const appName = (i: number) => `bp-${i}-${run}`;
  const apps = indices.map(appName);
  const dir = makeAgentDir("da-bench-poll-");
  let proxy: CountingProxy | undefined;
  let agent: AgentProcess | undefined;
  try {
    console.log(`deploy-agent poll bench (run ${run}): pushing the good fixture to ${APPS} repos`);
    const pushStart = performance.now();
    const first = await publishVersion({ repo: repo(0), tag: "latest", behaviour: "good", version: "v1" });
    await parallel(indices.slice(1), PUSH_PARALLEL, async (i) => {
      const p = await publishVersion({ repo: repo(i), tag: "latest", behaviour: "good", version: "v1" });
      if (p.digest !== first.digest) throw new Error(`${p.image}:latest has digest ${p.digest}, not ${first.digest}`);
    });
    console.log(`  pushed in ${((performance.now() - pushStart) / 1000).toFixed(1)}s (manifest digest ${first.digest})`);

    proxy = await startCountingProxy(TEST_REGISTRY);
    // Time of each request the proxy sees: the registry part of the round, without agentctl's own start-up.
    const stamps: number[] = [];
    const requests = proxy.requests;
    const push = requests.push.bind(requests);
    requests.push = (...items) => {
      for (let k = 0; k < items.length; k++) stamps.push(performance.now());
      return push(...items);
    };
    const appYaml = indices
      .map(
        (i) => `  ${appName(i)}:
    image: ${proxy!.host}/${repo(i)}
    schedule: "0 0 1 1 *"
    port: 8000
    health: { path: /health, startTimeout: 30s }
    stopTimeout: 5s
    labels: { ${TEST_RUN_LABEL}: "${run}" }
`,
      )
      .join("");
    writeConfig(
      dir,
      `state: ${dir}/state.json
socket: ${dir}/agent.sock
poll: { concurrency: ${CONCURRENCY}, jitter: 0s }
apps:
${appYaml}`,
    );

    console.log(`  starting the daemon: its first poll deploys all ${APPS} apps (through the counting proxy at ${proxy.host})`);
    const deployStart = performance.now();
    agent = await startAgent(dir);
    await waitAllLive(agent, apps, deployStart);
    const deployRequests = proxy.requests.length;
    await sleep(2_000);

    // CLI start-up alone, to tell apart from the round: agentctl --version does not touch the socket.
    const cliStart = performance.now();
    await agentctl(agent, ["--version"]);
    const cliMs = performance.now() - cliStart;

    const s = (x: number) => `${(x / 1000).toFixed(3)}s`;
    const tagHeadUrls = new Set(indices.map((i) => `/v2/${repo(i)}/manifests/latest`));
    /** One `agentctl check` of every app: its wall time, and every request the proxy and the token server saw. */
    const round = async (tokens?: TokenServer) => {
      proxy!.reset();
      stamps.length = 0;
      const tokensBefore = tokens?.requests.length ?? 0;
      const t0 = performance.now();
      const r = await agentctl(agent!, ["check"], { json: true });
      const wallMs = performance.now() - t0;
      const results = r.json as CheckRes[] | undefined;
      if (r.code !== 0 || !results) throw new Error(`agentctl check exited ${r.code}: ${r.stderr.trim()}\n${r.stdout.slice(0, 2000)}`);
      const seen = proxy!.requests.map((q) => ({ method: q.method, url: q.url, status: q.status }));
      const heads = seen.filter((q) => q.method === "HEAD" && tagHeadUrls.has(q.url));
      const perRepo = new Map<string, number>();
      for (const q of heads) if (q.status === 200) perRepo.set(q.url, (perRepo.get(q.url) ?? 0) + 1);
      const others = seen.filter((q) => !(q.method === "HEAD" && tagHeadUrls.has(q.url)));
      const otherKinds = new Map<string, number>();
      for (const q of others) otherKinds.set(kind(q.method, q.url), (otherKinds.get(kind(q.method, q.url)) ?? 0) + 1);
      const byResult = new Map<string, number>();
      for (const x of results) byResult.set(x.result, (byResult.get(x.result) ?? 0) + 1);
      return {
        wallMs,
        spanMs: stamps.length > 0 ? stamps.at(-1)! - stamps[0]! : NaN,
        firstReqMs: stamps.length > 0 ? stamps[0]! - t0 : NaN,
        results,
        byResult,
        heads,
        answered401: heads.filter((q) => q.status === 401).length,
        dupRepos: [...perRepo.values()].filter((n) => n > 1).length,
        missing: indices.filter((i) => !perRepo.has(`/v2/${repo(i)}/manifests/latest`)).length,
        others,
        otherKinds,
        tokens: tokens ? tokens.requests.length - tokensBefore : 0,
        rss: rssMb(agent!.child.pid!),
      };
    };
    const report = (label: string, x: Awaited<ReturnType<typeof round>>, tokenNote: string) => {
      const notUnchanged = x.results.filter((q) => q.result !== "unchanged");
      console.log(`  ${label}`);
      console.log(`    check results: ${[...x.byResult.entries()].map(([k, v]) => `${v} ${k}`).join(", ")}${notUnchanged.length ? `; e.g. ${notUnchanged[0]!.app}: ${notUnchanged[0]!.detail}` : ""}`);
      console.log(
        `    wall ${s(x.wallMs)} (agentctl check; ~${s(cliMs)} of it is agentctl's own start-up); registry requests from ${s(x.firstReqMs)} to ${s(x.firstReqMs + x.spanMs)} (span ${s(x.spanMs)})`,
      );
      console.log(
        `    requests: ${x.heads.length} HEAD manifests/latest (${x.heads.length - x.answered401} answered, ${x.answered401} answered 401; target ${APPS}` +
          `${x.dupRepos ? `; ${x.dupRepos} repos answered more than once` : ""}${x.missing ? `; ${x.missing} repos never answered` : ""}), ` +
          `${x.others.length} other${x.others.length ? ` (${[...x.otherKinds.entries()].map(([k, v]) => `${v} ${k}`).join(", ")})` : ""}; ` +
          `token requests ${x.tokens} (${tokenNote})`,
      );
      for (const q of x.others.slice(0, 5)) console.log(`      other: ${q.method} ${q.url} → ${q.status}`);
      console.log(`    daemon RSS after the round: ${x.rss.rss.toFixed(1)} MB, of which private (RssAnon) ${x.rss.anon.toFixed(1)} MB`);
    };

    const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
    console.log(`deploy-agent poll bench: ${APPS} apps polled with nothing changed (poll.concurrency ${CONCURRENCY}); host load average ${load} (2 cores; ${APPS} containers' Docker health checks run every 1s)`);
    report("registry without auth:", await round(), "this registry asks for none");

    // The same repositories behind GHCR-style token auth: a second registry process serving the
    // shared registry's storage (same manifests, same digests), anonymous pulls allowed as for a
    // public GHCR image. The proxy now forwards there, so the apps' image names do not change.
    if (!existsSync(join(TEST_REGISTRY_STORAGE, "docker/registry/v2/repositories", repo(0)))) {
      console.log(`  token auth rounds skipped: ${TEST_REGISTRY} does not keep its data in ${TEST_REGISTRY_STORAGE} (it was not started by test/env/ensure.sh)`);
    } else {
      const tokens = await startTokenServer({ anonymousPull: true });
      tokens.expiresInS = TOKEN_LIFETIME_S;
      const tokenRegistry = await startRegistry(
        { kind: "token", realm: tokens.realm, service: tokens.service, issuer: tokens.issuer, rootcertbundle: tokens.certPath },
        TEST_REGISTRY_STORAGE,
      );
      try {
        proxy.retarget(tokenRegistry.host);
        const first = await round(tokens);
        report(`token auth, first round (the agent has not yet seen this registry ask for auth; tokens live ${TOKEN_LIFETIME_S}s):`, first, "one per repository: each app's pull scope needs its own");
        const firstEnd = performance.now();
        report("token auth, again at once (every token still fresh):", await round(tokens), "target 0");
        await sleep(Math.max(0, TOKEN_LIFETIME_S * 1000 + 1000 - (performance.now() - firstEnd)));
        report(
          `token auth, after ${TOKEN_LIFETIME_S}s (every token expired; the registry is known to want one, so it is fetched before the HEAD):`,
          await round(tokens),
          `target ${APPS}, and no HEAD answered 401`,
        );
      } finally {
        proxy.retarget(TEST_REGISTRY);
        await tokenRegistry.stop();
        await tokens.stop();
      }
    }
    console.log(`  (the initial deploy of ${APPS} apps sent ${deployRequests} requests through the proxy, the engine's pulls included)`);
  } finally {
    const cleanStart = performance.now();
    if (agent) await agent.stop();
    if (proxy) await proxy.stop();
    // cleanupTestRun removes one container at a time; this run's 100 go faster a few at once first.
    const docker = new Dockerode();
    const mine = await docker.listContainers({ all: true, filters: { label: [`${TEST_RUN_LABEL}=${run}`] } }).catch(() => []);
    await parallel(mine, 8, (c) => docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined));
    const report = await cleanupTestRun();
    removeDir(dir);
    console.log(
      `  cleanup: ${mine.length} containers, ${report.images.length} image refs removed in ${((performance.now() - cleanStart) / 1000).toFixed(1)}s; ` +
        `whole poll bench ${((performance.now() - benchStart) / 1000).toFixed(1)}s`,
    );
  }
}

await main();
