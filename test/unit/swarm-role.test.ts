// The Engine's place in a swarm from GET /info (docker/swarm.ts), and the message the daemon gives
// when apps with backend: swarm meet an Engine that is not a manager.
import { describe, expect, it } from "vitest";
import { swarmNotManager, swarmRole } from "../../agent/docker/swarm.js";

/** The Swarm section of /info as the Engine answers it, for each state (API v1.43 SwarmInfo). */
const INFO = {
  manager: { Swarm: { NodeID: "k67qz4598weg5unwwffg6z1m1", LocalNodeState: "active", ControlAvailable: true, Error: "" } },
  worker: { Swarm: { NodeID: "71izy0goik036k48jg985xnds", LocalNodeState: "active", ControlAvailable: false, Error: "" } },
  inactive: { Swarm: { NodeID: "", LocalNodeState: "inactive", ControlAvailable: false, Error: "" } },
  pending: { Swarm: { NodeID: "", LocalNodeState: "pending", ControlAvailable: false, Error: "" } },
  error: { Swarm: { NodeID: "", LocalNodeState: "error", ControlAvailable: false, Error: "rpc error: manager unreachable\u001b[31m" } },
  locked: { Swarm: { NodeID: "", LocalNodeState: "locked", ControlAvailable: false, Error: "" } },
};

describe("swarmRole", () => {
  it.each(Object.entries(INFO))("reads %s from LocalNodeState and ControlAvailable", (role, info) => {
    expect(swarmRole(info)).toBe(role);
  });

  it("reads an Engine that never joined a swarm (an empty state, or no Swarm section) as inactive", () => {
    expect(swarmRole({ Swarm: { LocalNodeState: "" } })).toBe("inactive");
    expect(swarmRole({})).toBe("inactive");
    expect(swarmRole({ Swarm: null })).toBe("inactive");
  });
});

describe("the message for apps with backend: swarm on an Engine that is not a manager", () => {
  it("says nothing on a manager, or with no Swarm app", () => {
    expect(swarmNotManager(["web"], INFO.manager)).toBeUndefined();
    expect(swarmNotManager([], INFO.inactive)).toBeUndefined();
  });

  it("names the app, says the Engine is in no swarm, and gives docker swarm init", () => {
    expect(swarmNotManager(["web"], INFO.inactive)).toEqual({
      message: "app web has backend: swarm, but this Docker Engine is not a Swarm manager: it is not part of a swarm; only a manager creates and updates services",
      hint: "run `docker swarm init` on this host (a swarm of one node, this one its manager), or run the agent on a manager of your swarm, then restart the agent; or set backend: container for it",
    });
  });

  it("names every app on a worker, and how to promote this node", () => {
    expect(swarmNotManager(["web", "api"], INFO.worker)).toEqual({
      message: "apps web, api have backend: swarm, but this Docker Engine is not a Swarm manager: it is a worker of a swarm; only a manager creates and updates services",
      hint: "run the agent on a manager of the swarm, or promote this node from a manager with `docker node promote 71izy0goik036k48jg985xnds`, then restart the agent; or set backend: container for them",
    });
  });

  it("says what a pending, locked or failed membership needs, the Engine's error cleaned", () => {
    expect(swarmNotManager(["web"], INFO.pending)?.message).toContain("it is still joining a swarm");
    expect(swarmNotManager(["web"], INFO.locked)?.hint).toContain("`docker swarm unlock`");
    expect(swarmNotManager(["web"], INFO.error)?.message).toBe(
      "app web has backend: swarm, but this Docker Engine is not a Swarm manager: its swarm membership failed: rpc error: manager unreachable; only a manager creates and updates services",
    );
  });
});
