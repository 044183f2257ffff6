import { describe, expect, it } from "vitest";
import { liveBackWords, liveDecide, liveProblemWords, RAN_LONG_ENOUGH, type LiveProblem } from "../../agent/daemon/live-rules.js";
import { parseEvent } from "../../agent/docker/container-events.js";

describe("the rules of a live release that fails by itself", () => {
  it("starts an episode with one warning when the live release exits, keeping its exit status", () => {
    expect(liveDecide(undefined, { action: "die", exitCode: 3, at: 1000 })).toEqual({ problem: { condition: "exited", since: 1000, exitCode: 3 }, say: "down" });
  });

  it("keeps one episode, with no second warning, through restarts and further exits", () => {
    let p: LiveProblem | undefined = { condition: "exited", since: 1000, exitCode: 3 };
    const restarted = liveDecide(p, { action: "start", at: 2000 });
    expect(restarted).toEqual({ problem: { condition: "restarting", since: 1000, exitCode: 3 } });
    p = restarted.problem;
    const again = liveDecide(p, { action: "die", exitCode: 1, at: 3000 });
    expect(again).toEqual({ problem: { condition: "exited", since: 1000, exitCode: 1 } });
    expect(liveDecide(again.problem, { action: "health_status: starting", at: 3500 }).say).toBeUndefined();
  });

  it("ends the episode once, when the live release is healthy again", () => {
    const p: LiveProblem = { condition: "restarting", since: 1000, exitCode: 3 };
    expect(liveDecide(p, { action: "health_status: healthy", at: 5000 })).toEqual({ problem: undefined, say: "back" });
    expect(liveDecide(undefined, { action: "health_status: healthy", at: 6000 })).toEqual({ problem: undefined });
  });

  it("starts an episode when the running live release turns unhealthy, and says nothing more while it stays so", () => {
    const d = liveDecide(undefined, { action: "health_status: unhealthy", at: 1000 });
    expect(d).toEqual({ problem: { condition: "unhealthy", since: 1000 }, say: "down" });
    expect(liveDecide(d.problem, { action: "health_status: unhealthy", at: 2000 })).toEqual({ problem: d.problem });
  });

  it("says nothing about a live release that starts while it serves", () => {
    expect(liveDecide(undefined, { action: "start", at: 1000 })).toEqual({ problem: undefined });
  });

  it("keeps a restarted container without a health check in its episode until it has run 10 s, then ends it once", () => {
    const p: LiveProblem = { condition: "exited", since: 1000, exitCode: 137 };
    const started = liveDecide(p, { action: "start", at: 2000 }, false);
    expect(started).toEqual({ problem: { condition: "restarting", since: 1000, exitCode: 137 }, recheckInMs: 10_000 });
    expect(liveDecide(started.problem, { action: RAN_LONG_ENOUGH, at: 12_000 }, false)).toEqual({ problem: undefined, say: "back" });
    expect(liveDecide(undefined, { action: RAN_LONG_ENOUGH, at: 13_000 }, false)).toEqual({ problem: undefined });
  });

  it("keeps a crash loop of a container without a health check one episode: a die before it has run 10 s says nothing", () => {
    const started = liveDecide({ condition: "exited", since: 1000, exitCode: 1 }, { action: "start", at: 2000 }, false);
    const again = liveDecide(started.problem, { action: "die", exitCode: 1, at: 3000 }, false);
    expect(again).toEqual({ problem: { condition: "exited", since: 1000, exitCode: 1 } });
    expect(liveDecide(again.problem, { action: RAN_LONG_ENOUGH, at: 13_000 }, false)).toEqual({ problem: again.problem });
  });

  it("waits for the health check, not for running time, to end the episode of a container that has one", () => {
    const started = liveDecide({ condition: "exited", since: 1000 }, { action: "start", at: 2000 }, true);
    expect(started).toEqual({ problem: { condition: "restarting", since: 1000 } });
    expect(liveDecide(started.problem, { action: RAN_LONG_ENOUGH, at: 12_000 }, true)).toEqual({ problem: started.problem });
    expect(liveDecide(started.problem, { action: "health_status: healthy", at: 4000 }, true)).toEqual({ problem: undefined, say: "back" });
  });

  it("words a role's problem and its end with the role's name", () => {
    expect(liveProblemWords({ condition: "exited", since: 0, exitCode: 137 }, "worker")).toBe("the live release's worker is not running: it exited (last exit status 137)");
    expect(liveProblemWords({ condition: "restarting", since: 0 }, "worker", false)).toBe("the live release's worker is restarting and has not run 10 s yet");
    expect(liveProblemWords({ condition: "unhealthy", since: 0 }, "worker")).toBe("the live release's worker is unhealthy in Docker: its health check fails");
    expect(liveBackWords("worker", false)).toBe("the live release's worker runs again (10 s without exiting)");
    expect(liveBackWords("worker", true)).toBe("the live release's worker runs healthy again");
    expect(liveBackWords()).toBe("the live release runs healthy again");
  });

  it("words each condition with the exit status", () => {
    expect(liveProblemWords({ condition: "exited", since: 0, exitCode: 3 })).toBe("the live release is not running: it exited (last exit status 3)");
    expect(liveProblemWords({ condition: "restarting", since: 0 })).toBe("the live release is restarting and not healthy yet");
    expect(liveProblemWords({ condition: "unhealthy", since: 0 })).toContain("unhealthy in Docker");
  });
});

describe("the Engine's events of the agent's containers", () => {
  it("reads the app, name, deploy id, exit status and time of a die event", () => {
    const line = JSON.stringify({
      Action: "die",
      Actor: { ID: "abc", Attributes: { "deploy-agent.app": "web", "deploy-agent.deploy-id": "7", name: "web-blue", exitCode: "3" } },
      time: 1,
      timeNano: 1_500_000_000,
    });
    expect(parseEvent(line)).toEqual({ id: "abc", action: "die", app: "web", name: "web-blue", deployId: "7", exitCode: 3, at: 1500 });
  });

  it("leaves out lines that are not events of an app's container", () => {
    expect(parseEvent("")).toBeUndefined();
    expect(parseEvent("not json")).toBeUndefined();
    expect(parseEvent(JSON.stringify({ Action: "die", Actor: { ID: "x", Attributes: {} } }))).toBeUndefined();
  });
});
