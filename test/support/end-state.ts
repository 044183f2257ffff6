// What every cell of the fault matrix checks once the fault is over: one container of the app
// runs and serves, nothing else of the app is left on the Engine, and the state file parses with
// no deploy still "running".
import Dockerode from "dockerode";
import { expect } from "vitest";
import { AGENT_LABELS } from "../../agent/labels.js";
import { State } from "../../agent/state/schema.js";
import { readState, servedVersion, waitFor, type AgentProcess } from "./agent.js";

export interface EndState {
  /** The container that runs, by name (e.g. `web-green`). */
  running: string;
  /** What the routing model answers for the app's host. */
  serves: string | undefined;
}

/** Asserts the end state of a cell for `app` and returns what serves. */
export async function expectOneServing(agent: AgentProcess, app: string, traefikUrl: string, docker = new Dockerode()): Promise<EndState> {
  const all = await docker.listContainers({ all: true, filters: { label: [`${AGENT_LABELS.app}=${app}`] } });
  const own = all.filter((c) => c.Labels[AGENT_LABELS.role] === undefined);
  const names = own.map((c) => `${c.Names[0]?.replace(/^\//, "")} (${c.State})`);
  // Exactly one slot serves, and no other container of the app (stopped or running) is left over.
  expect(names, names.join(", ")).toHaveLength(1);
  expect(own[0]!.State, names.join(", ")).toBe("running");
  // The daemon answers from memory as soon as a record is final and writes the file just after
  // (an fsync, slow on a loaded host), so the file is given a few seconds to catch up.
  const settled = () => {
    const s = State.parse(readState(agent));
    return (s.apps[app]?.history ?? []).some((h) => h.outcome === "running") ? undefined : s;
  };
  const state = await waitFor(`the state file to hold no running deploy of ${app}`, settled, 10_000, 100).catch(() => State.parse(readState(agent)));
  const appState = state.apps[app];
  expect(appState?.history.filter((h) => h.outcome === "running") ?? [], "deploys left running in the state file").toEqual([]);
  // The state names the slot that runs.
  expect(own[0]!.Labels[AGENT_LABELS.slot]).toBe(appState?.live?.slot);
  return { running: own[0]!.Names[0]!.replace(/^\//, ""), serves: await servedVersion(traefikUrl, `${app}.test`) };
}
