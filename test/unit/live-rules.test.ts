import { describe, expect, it } from "vitest";
import { liveDecide, liveProblemWords, type LiveProblem } from "../../agent/daemon/live-rules.js";
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
