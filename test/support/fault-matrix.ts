// What every cell of the fault matrix asserts at its end (the issue's list): exactly one slot
// serves, the state file parses and no deploy is left running, nothing the agent made is orphaned.
import Dockerode from "dockerode";
import { expect } from "vitest";
import { State } from "../../agent/state/schema.js";
import { readState, waitFor, type AgentProcess } from "./agent.js";

/** The app's containers on the Engine, stopped ones included. */
export async function appContainers(docker: Dockerode, app: string): Promise<{ name: string; running: boolean }[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [`deploy-agent.app=${app}`] } });
  return list.map((c) => ({ name: c.Names[0]!.replace(/^\//, ""), running: c.State === "running" }));
}

/** The state as the daemon last wrote it, checked against the schema. */
export function parsedState(agent: Pick<AgentProcess, "statePath">): State {
  const parsed = State.safeParse(readState(agent));
  expect(parsed.success, parsed.success ? "" : JSON.stringify(parsed.error.issues)).toBe(true);
  return parsed.data!;
}

/** Waits until the app has settled: one container, running, and no deploy running in the state file. */
export async function settled(docker: Dockerode, agent: Pick<AgentProcess, "statePath">, app: string, timeoutMs = 90_000): Promise<void> {
  await waitFor(`${app} to settle on one running container with no deploy running`, async () => {
    const cs = await appContainers(docker, app);
    const s = State.safeParse(readState(agent));
    const running = s.success ? s.data.apps[app]?.history.some((r) => r.outcome === "running") : true;
    return cs.length === 1 && cs[0]!.running && !running;
  }, timeoutMs);
}

/**
 * The end of a cell: one slot serves and it is the live one; no running deploy; the agent's
 * keep-tags are exactly those of the kept releases (no image of its own orphaned).
 */
export async function expectSettledTruth(docker: Dockerode, agent: Pick<AgentProcess, "statePath">, app: string): Promise<State> {
  const cs = await appContainers(docker, app);
  expect(cs, JSON.stringify(cs)).toHaveLength(1);
  expect(cs[0]!.running).toBe(true);
  const state = parsedState(agent);
  const a = state.apps[app]!;
  expect(a.history.filter((r) => r.outcome === "running"), JSON.stringify(a.history, null, 1)).toEqual([]);
  expect(cs[0]!.name).toBe(`${app}-${a.live?.slot}`);
  const images = await docker.listImages();
  const tags = images.flatMap((i) => i.RepoTags ?? []).filter((t) => t.startsWith(`deploy-agent/${app}:`)).sort();
  expect(tags).toEqual(a.releases.map((r) => r.keepTag).filter((t): t is string => t !== undefined).sort());
  return state;
}
