// Whether the Engine can run `backend: swarm` apps: its place in a swarm, read from the Engine's
// GET /info (https://docs.docker.com/reference/api/engine/version/v1.43/#tag/System/operation/SystemInfo),
// and what the daemon says when it is not a manager. Pure.
import { cleanText } from "../text.js";

/** The part of /info this reads (`Swarm`, the Engine's SwarmInfo). */
export interface SwarmInfo {
  Swarm?: {
    NodeID?: string;
    /** "", "inactive", "pending", "active", "error" or "locked" (the Engine's LocalNodeState). */
    LocalNodeState?: string;
    /** True on a manager: only a manager creates and updates services. */
    ControlAvailable?: boolean;
    Error?: string;
  } | null;
}

/** The Engine's place in a swarm: LocalNodeState, with "active" split by ControlAvailable. */
export type SwarmRole = "manager" | "worker" | "inactive" | "pending" | "error" | "locked";

export function swarmRole(info: SwarmInfo): SwarmRole {
  const s = info.Swarm;
  switch (s?.LocalNodeState) {
    case "active":
      return s.ControlAvailable === true ? "manager" : "worker";
    case "pending":
    case "error":
    case "locked":
      return s.LocalNodeState;
    default:
      // "inactive", "" (an Engine that never joined) or no Swarm section at all.
      return "inactive";
  }
}

/**
 * What the daemon prints when `apps` (those with `backend: swarm`) cannot run because this Engine
 * is not a Swarm manager; undefined on a manager. Names the apps, what the Engine is, and the fix.
 */
export function swarmNotManager(apps: readonly string[], info: SwarmInfo): { message: string; hint: string } | undefined {
  const role = swarmRole(info);
  if (role === "manager" || apps.length === 0) return undefined;
  const which = apps.length === 1 ? `app ${apps[0]} has` : `apps ${apps.join(", ")} have`;
  const { is, hint } = explain(role, info);
  return {
    message: `${which} backend: swarm, but this Docker Engine is not a Swarm manager: ${is}; only a manager creates and updates services`,
    hint: `${hint}, then restart the agent; or set backend: container for ${apps.length === 1 ? "it" : "them"}`,
  };
}

function explain(role: Exclude<SwarmRole, "manager">, info: SwarmInfo): { is: string; hint: string } {
  const node = info.Swarm?.NodeID ? cleanText(info.Swarm.NodeID, 100) : "<this node>";
  switch (role) {
    case "inactive":
      return { is: "it is not part of a swarm", hint: "run `docker swarm init` on this host (a swarm of one node, this one its manager), or run the agent on a manager of your swarm" };
    case "worker":
      return { is: "it is a worker of a swarm", hint: `run the agent on a manager of the swarm, or promote this node from a manager with \`docker node promote ${node}\`` };
    case "pending":
      return { is: "it is still joining a swarm", hint: "wait until `docker info` shows \"Swarm: active\" and \"Is Manager: true\"" };
    case "locked":
      return { is: "its swarm is locked (autolock) since the Engine started", hint: "unlock it with `docker swarm unlock` and the swarm's unlock key" };
    case "error": {
      const why = info.Swarm?.Error ? `: ${cleanText(info.Swarm.Error, 500)}` : "";
      return { is: `its swarm membership failed${why}`, hint: "mend the Engine's swarm membership (`docker info` shows its state, the Engine's log why)" };
    }
  }
}
