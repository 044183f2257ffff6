// What the Engine-fault stories share: an agent on a private dockerd with one app serving v1, and
// the end-of-cell checks of the fault matrix (one slot serves, the state is true, nothing of the
// agent's is orphaned, nothing is skip-listed, the agent deploys again by itself).
import http from "node:http";
import { expect } from "vitest";
import { State } from "../../agent/state/schema.js";
import { type AgentProcess, appStatus, readState, servedVersion, settledDeploy, startAgent, storyApp, waitFor, writeConfig } from "./agent.js";
import { expectOneServing } from "./end-state.js";
import { docker0Addresses } from "./host-network.js";
import { publishVersion, TEST_REGISTRY, testRunId } from "./images.js";
import { startScriptedServer, type LoopbackServer } from "./loopback.js";
import { type PrivateDockerd, startPrivateDockerd } from "./private-dockerd.js";
import { bursts, type DropWatch, type Failure } from "./serving-gaps.js";
import { storyScope, type StoryScope } from "./story-scope.js";
import { startTraefikModel, type TraefikModel } from "./traefik-model.js";

export interface EngineFaultWorld {
  dockerd: PrivateDockerd;
  traefik: TraefikModel;
  scope: StoryScope;
  run: string;
  /** The apps the cells made, each ended by `endCell` so its health checks stop loading the host. */
  cells: ServingApp[];
  /** The host's docker0 addresses before the private dockerd started: the same at the end. */
  docker0: string[] | undefined;
}

export const GONE = "Docker Engine is not answering; deploys wait until it is back";
export const BACK = "Docker Engine is back";

/** A private dockerd named after `prefix` (see private-dockerd.ts), the routing model on it, a story scope. */
export async function openWorld(prefix: string): Promise<EngineFaultWorld> {
  const docker0 = docker0Addresses();
  const dockerd = await startPrivateDockerd(prefix);
  const traefik = await startTraefikModel({ docker: dockerd.docker });
  return { dockerd, traefik, scope: storyScope("dd-"), run: testRunId(), cells: [], docker0 };
}

/** Kills the cells' agents and removes their containers; a cell that failed half way must not leave the next one without an Engine either. */
export async function endCells(w: EngineFaultWorld): Promise<void> {
  w.dockerd.resume();
  await w.dockerd.start();
  for (const s of w.cells.splice(0)) {
    await s.agent.stop("SIGKILL");
    for (const c of await w.dockerd.docker.listContainers({ all: true, filters: { label: [`deploy-agent.app=${s.app}`] } })) {
      await w.dockerd.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    }
  }
}

/** Everything `openWorld` made goes; then the host's docker0 must be as it was (a dockerd's stop and clean-up are where a bridge could go). */
export async function closeWorld(w: EngineFaultWorld | undefined): Promise<void> {
  if (!w) return;
  await w.scope.close();
  await w.traefik.close();
  await w.dockerd.close();
  expect(docker0Addresses(), "the host's docker0 after the private dockerd").toEqual(w.docker0);
}

/** Stops dockerd, waits for the agent to say so once, starts dockerd again, waits for "back". */
export async function restartDockerd(w: EngineFaultWorld, agent: AgentProcess, from: number): Promise<void> {
  await w.dockerd.stop();
  await waitFor("the agent to warn that the Engine is gone", () => logged(agent, GONE, from).length > 0, 60_000);
  await w.dockerd.start();
  await waitFor("the agent to see the Engine back", () => logged(agent, BACK, from).length > 0, 60_000);
  expect(logged(agent, GONE, from)).toHaveLength(1);
  expect(logged(agent, BACK, from)).toHaveLength(1);
}

/** The failed requests in bursts, with what the routing model dropped (and why) around each: a failure message that says what went wrong and when. */
export function failedSummary(failed: Failure[], drops: DropWatch): string {
  return bursts(failed)
    .map((b) => `${b.count} failed ${new Date(b.from).toISOString()}..${new Date(b.to).toISOString()} (${[...b.kinds.keys()].join("; ").slice(0, 120)}); dropped: ${drops.between(b.from - 5000, b.to).join("; ")}`)
    .join("\n");
}

export interface ServingApp {
  app: string;
  dir: string;
  agent: AgentProcess;
  /** `<registry>/stories/<app>`: where the test publishes the app's next versions. */
  repo: string;
}

/** The agent.yaml of a cell: the app on the private dockerd with a short docker.timeout. */
export function faultConfig(w: EngineFaultWorld, dir: string, app: string, opts: { registry?: string; drain?: string } = {}): string {
  const image = `${opts.registry ?? TEST_REGISTRY}/stories/${app}`;
  return `state: ${dir}/state.json
socket: ${dir}/agent.sock
docker: { socket: ${w.dockerd.socketPath}, timeout: 10s }
apps:${storyApp(app, image, w.run, { drain: opts.drain ?? "1s", network: `dd-net-${w.run}` })}
`;
}

/** A fresh agent with `app` deployed and v1 serving through the routing model. */
export async function servingV1(w: EngineFaultWorld, app: string, opts: { registry?: string; drain?: string } = {}): Promise<ServingApp> {
  const dir = w.scope.dir();
  writeConfig(dir, faultConfig(w, dir, app, opts));
  await publishVersion({ repo: `stories/${app}`, tag: "latest", behaviour: "good", version: "v1" });
  const agent = w.scope.track(await startAgent(dir));
  const s: ServingApp = { app, dir, agent, repo: `stories/${app}` };
  w.cells.push(s);
  await waitFor("v1 to serve", async () => (await serving(w, app)) === "v1", 60_000);
  // Green serves before its deploy ends (drain, stop, record): a fault must find it finished.
  expect((await settledDeploy(agent, app, 60_000)).outcome).toBe("succeeded");
  return s;
}

export const serving = (w: EngineFaultWorld, app: string): Promise<string | undefined> => servedVersion(w.traefik.url, `${app}.test`);

/** Waits until the newest deploy of `app` is in `step` (from the state file the daemon writes); returns its id. */
export function inStep(agent: AgentProcess, app: string, step: string, timeoutMs = 90_000): Promise<string> {
  return waitFor(`the deploy to reach ${step}`, () => {
    const s = readState(agent) as { apps?: Record<string, { history: { id: string; outcome: string; steps: { name: string; endedAt?: string }[] }[] }> } | undefined;
    const r = s?.apps?.[app]?.history[0];
    const last = r?.steps.at(-1);
    return r?.outcome === "running" && last?.name === step && last.endedAt === undefined ? r.id : undefined;
  }, timeoutMs, 50);
}

/** Waits until the deploy in step start has started green, so it is in its health wait (v1 is blue). */
export async function inHealthWait(w: EngineFaultWorld, s: ServingApp): Promise<string> {
  const id = await inStep(s.agent, s.app, "start");
  await waitFor("green to run", async () => (await w.dockerd.docker.listContainers({ filters: { name: [`^/${s.app}-green$`] } })).length > 0, 60_000, 50);
  return id;
}

/**
 * The end of every cell: the end state of the fault matrix (test/support/end-state.ts: one container
 * of the app runs, the state parses with no deploy left running and names its slot live), serving
 * `version` through the routing model; every image of the app's on the Engine is the live one or a
 * kept release; nothing is skip-listed.
 */
export async function expectSettled(w: EngineFaultWorld, s: ServingApp, version: string): Promise<void> {
  const docker = w.dockerd.docker;
  const byApp = { label: [`deploy-agent.app=${s.app}`] };
  // Green serves before its deploy ends: wait for the end too, so the state is the settled one.
  await waitFor(`${version} to serve from exactly one container, with no deploy running`, async () => {
    const all = await docker.listContainers({ all: true, filters: byApp });
    const history = State.safeParse(readState(s.agent)).data?.apps[s.app]?.history ?? [];
    return all.length === 1 && all[0]!.State === "running" && !history.some((r) => r.outcome === "running") && (await serving(w, s.app)) === version;
  }, 90_000);
  expect((await expectOneServing(s.agent, s.app, w.traefik.url, docker)).serves).toBe(version);
  const appState = State.parse(readState(s.agent)).apps[s.app]!;
  expect(appState.skip).toEqual([]);
  expect((await appStatus(s.agent, s.app)).skip).toEqual([]);

  const kept = new Set([...appState.releases.map((r) => r.imageId), appState.live?.imageId]);
  const images = await docker.listImages();
  const ofApp = images.filter((i) => [...(i.RepoTags ?? []), ...(i.RepoDigests ?? [])].some((ref) => ref.includes(s.app)));
  for (const image of ofApp) expect(kept, `image ${image.Id} (${image.RepoTags?.join(", ")}) is neither live nor kept`).toContain(image.Id);
}

/** Publishes `version` as the app's tracked tag and waits for the agent to deploy it by itself. */
export async function deploysAgain(w: EngineFaultWorld, s: ServingApp, version: string): Promise<void> {
  await publishVersion({ repo: s.repo, tag: "latest", behaviour: "good", version });
  await expectSettled(w, s, version);
}

/** The agent's log lines with message `msg` (pino JSON), from line `from` on. */
export function logged(agent: AgentProcess, msg: string, from = 0): Record<string, unknown>[] {
  return agent.lines.slice(from).flatMap((l) => {
    try {
      const line = JSON.parse(l) as Record<string, unknown>;
      return line.msg === msg ? [line] : [];
    } catch {
      return [];
    }
  });
}

export interface HoldingRegistry extends LoopbackServer {
  /** Blob downloads wait from now on, so a pull stays in flight; `held()` counts those waiting. */
  hold(): void;
  held(): number;
  /** Lets blob downloads through again; the ones held are cut off. */
  release(): void;
}

/** A registry in front of the test registry whose blob downloads the test can hold (a pull in flight). */
export async function startHoldingRegistry(): Promise<HoldingRegistry> {
  let holding = false;
  const waiting = new Set<http.ServerResponse>();
  const [host, port] = TEST_REGISTRY.split(":");
  const server = await startScriptedServer((req, res) => {
    if (holding && req.method === "GET" && req.url?.includes("/blobs/")) {
      waiting.add(res);
      res.on("close", () => waiting.delete(res));
      return;
    }
    const up = http.request({ host, port: Number(port), method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    up.on("error", (err) => (res.headersSent ? res.destroy(err) : res.writeHead(502).end(String(err))));
    up.end();
  });
  return {
    ...server,
    hold: () => {
      holding = true;
    },
    held: () => waiting.size,
    release: () => {
      holding = false;
      for (const res of waiting) res.destroy();
    },
    stop: async () => {
      for (const res of waiting) res.destroy();
      await server.stop();
    },
  };
}

/** The failed health probes Docker logged for the app's containers (read every half second): why one was taken out of routing. */
export function watchProbes(w: EngineFaultWorld, app: string): { stop(): string[] } {
  const seen = new Set<string>();
  const look = async () => {
    for (const c of await w.dockerd.docker.listContainers({ filters: { label: [`deploy-agent.app=${app}`] } }).catch(() => [])) {
      const info = await w.dockerd.docker.getContainer(c.Id).inspect().catch(() => undefined);
      for (const p of info?.State.Health?.Log ?? []) {
        if (p.ExitCode !== 0) seen.add(`${c.Names[0]} ${p.End} exit ${p.ExitCode}: ${p.Output.trim().slice(0, 100)}`);
      }
    }
  };
  const timer = setInterval(() => void look(), 500);
  return {
    stop: () => {
      clearInterval(timer);
      return [...seen].sort();
    },
  };
}
