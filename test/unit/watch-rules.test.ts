// The pure rules of the watch after the switch: what the record step writes, when the new release
// counts as failed, and what a starting agent does with a watch it finds in the state file.
import { describe, expect, it } from "vitest";
import { greenFailure, greenPassesAgain, isFailedCheck, watchOnStart, watchRecord } from "../../agent/deploy/watch-rules.js";
import { AGENT_LABELS } from "../../agent/labels.js";
import { AppState, emptyAppState } from "../../agent/state/schema.js";

const DIGEST = `sha256:${"1".repeat(64)}`;
const UNTIL = "2026-01-01T00:10:00.000Z";
const BEFORE = Date.parse(UNTIL) - 90_000;
const AFTER = Date.parse(UNTIL) + 1;

const blue = {
  id: "b".repeat(64),
  name: "web-blue",
  image: "sha256:img",
  labels: { [AGENT_LABELS.slot]: "blue", [AGENT_LABELS.generation]: "4", [AGENT_LABELS.deployId]: "7", [AGENT_LABELS.version]: "v1", [AGENT_LABELS.digest]: DIGEST },
};
const serving = { name: "web-green", running: true, restarting: false, restartCount: 0, exitCode: 0, health: "healthy" };

describe("the watch the record step writes", () => {
  it("names the previous release as its container's labels say, and parses in the state file", () => {
    const w = watchRecord(blue, "g".repeat(64), "8", UNTIL);
    expect(w).toEqual({
      deployId: "8",
      until: UNTIL,
      greenId: "g".repeat(64),
      blue: { id: blue.id, name: "web-blue", slot: "blue", generation: 4, deployId: "7", version: "v1", digest: DIGEST, imageId: "sha256:img" },
    });
    expect(AppState.parse({ ...emptyAppState(), watch: w }).watch).toEqual(w);
  });

  it("still parses an app state written before the watch existed", () => {
    expect(AppState.parse(emptyAppState()).watch).toBeUndefined();
  });
});

describe("when the new release counts as failed during the watch", () => {
  it("does not count a running, healthy (or still starting) release as failed", () => {
    expect(greenFailure(serving)).toBeUndefined();
    expect(greenFailure({ ...serving, health: "none" })).toBeUndefined();
    expect(greenFailure({ ...serving, health: "starting" })).toBeUndefined();
  });

  it("counts a release that is gone, exited, restarting, restarted or unhealthy as failed, saying how", () => {
    expect(greenFailure(undefined)).toMatch(/gone/);
    expect(greenFailure({ ...serving, running: false, exitCode: 3 })).toBe("the new release web-green exited (exit code 3)");
    expect(greenFailure({ ...serving, restarting: true })).toMatch(/exited and was restarted/);
    expect(greenFailure({ ...serving, restartCount: 1, health: "starting" })).toMatch(/exited and was restarted \(1 restart/);
    expect(greenFailure({ ...serving, health: "unhealthy" })).toBe("the new release web-green turned unhealthy in Docker");
  });
});

describe("a watch found at start", () => {
  it("resumes for the time left while the new release serves", () => {
    expect(watchOnStart({ until: UNTIL }, BEFORE, true, undefined)).toEqual({ action: "resume", remainingMs: 90_000 });
  });

  it("ends when its time passed while the agent was away", () => {
    expect(watchOnStart({ until: UNTIL }, AFTER, true, undefined)).toEqual({ action: "end" });
  });

  it("rolls back at once when the new release failed meanwhile, even after its time", () => {
    expect(watchOnStart({ until: UNTIL }, BEFORE, true, "the new release web-green exited (exit code 3)")).toEqual({ action: "rollback", reason: "the new release web-green exited (exit code 3)" });
    expect(watchOnStart({ until: UNTIL }, AFTER, true, "gone")).toEqual({ action: "rollback", reason: "gone" });
  });

  it("finishes a rollback it finds begun, with the reason written before it began", () => {
    expect(watchOnStart({ until: UNTIL, rollingBack: "turned unhealthy" }, BEFORE, true, undefined)).toEqual({ action: "rollback", reason: "turned unhealthy" });
  });

  it("drops the watch when the kept release is gone, as there is nothing to go back to", () => {
    expect(watchOnStart({ until: UNTIL, rollingBack: "x" }, BEFORE, false, "gone")).toEqual({ action: "drop" });
  });

  it("reads an unreadable until as passed, so the watch ends rather than lasting for ever", () => {
    expect(watchOnStart({ until: "not a time" }, BEFORE, true, undefined)).toEqual({ action: "end" });
  });
});

describe("the reserve during the watch", () => {
  it("starts it on a health check of the new release that failed, not on one that passed or on other events", () => {
    expect(isFailedCheck({ action: "exec_die", exitCode: 1 })).toBe(true);
    expect(isFailedCheck({ action: "exec_die", exitCode: 137 })).toBe(true);
    expect(isFailedCheck({ action: "exec_die", exitCode: 0 })).toBe(false);
    expect(isFailedCheck({ action: "exec_die" })).toBe(false);
    expect(isFailedCheck({ action: "die", exitCode: 1 })).toBe(false);
  });

  it("stops it again only once the new release is healthy with no failed check since its last pass", () => {
    expect(greenPassesAgain({ running: true, health: "healthy", failingStreak: 0 })).toBe(true);
    expect(greenPassesAgain({ running: true, health: "healthy", failingStreak: 2 })).toBe(false);
    expect(greenPassesAgain({ running: true, health: "unhealthy", failingStreak: 0 })).toBe(false);
    expect(greenPassesAgain({ running: false, health: "healthy", failingStreak: 0 })).toBe(false);
    expect(greenPassesAgain(undefined)).toBe(false);
  });
});
