import { describe, expect, it } from "vitest";
import { isAgentError } from "../../agent/errors.js";
import { emptyState, State, type Live, type Release, type SkipEntry } from "../../agent/state/schema.js";
import {
  addSkip,
  allocateDeployId,
  beginDeploy,
  endStep,
  ensureApp,
  findRelease,
  finishDeploy,
  isSkipped,
  previousRelease,
  promoteLive,
  startStep,
} from "../../agent/state/transitions.js";

const digest = (c: string): string => `sha256:${c.repeat(64)}`;
const T0 = "2025-01-01T00:00:00.000Z";
const T1 = "2025-01-01T00:01:00.000Z";
const T2 = "2025-01-01T00:02:00.000Z";

function release(c: string, deployId: string, extra: Partial<Release> = {}): Release {
  return { deployId, version: `v-${c}`, digest: digest(c), imageId: `sha256:img-${c}`, deployedAt: T0, ...extra };
}

function live(r: Release, generation: number, slot: "blue" | "green" = "blue"): Live {
  return { deployId: r.deployId, version: r.version, digest: r.digest, imageId: r.imageId, slot, generation, since: T0 };
}

function skip(c: string, deployId: string, reason: SkipEntry["reason"] = "failed"): SkipEntry {
  return { digest: digest(c), version: `v-${c}`, reason, deployId, at: T0 };
}

describe("deploy ids and records", () => {
  it("allocates ids 1, 2, 3 from nextDeployId", () => {
    const state = emptyState();
    expect([allocateDeployId(state), allocateDeployId(state), allocateDeployId(state)]).toEqual(["1", "2", "3"]);
    expect(state.nextDeployId).toBe(4);
  });

  it("begins a first deploy as a running record at generation 1 without a previous release", () => {
    const state = emptyState();
    const rec = beginDeploy(state, { app: "web", trigger: "poll", version: "latest", startedAt: T0 });
    expect(rec).toEqual({
      id: "1",
      app: "web",
      trigger: "poll",
      version: "latest",
      generation: 1,
      steps: [],
      outcome: "running",
      startedAt: T0,
    });
    expect(state.apps.web?.history[0]).toBe(rec);
    expect(state.apps.web?.generation).toBe(1);
    expect(State.safeParse(state).success).toBe(true);
  });

  it("records what is live as previous and puts the new record first", () => {
    const state = emptyState();
    const app = ensureApp(state, "web");
    const r = release("a", "7");
    app.generation = 4;
    app.live = live(r, 4, "green");
    const older = beginDeploy(state, { app: "web", trigger: "poll", version: "v1", startedAt: T0 });
    finishDeploy(state, "web", older.id, { outcome: "failed", endedAt: T1 });
    const rec = beginDeploy(state, { app: "web", trigger: "rollback", version: "v0", startedAt: T2 });
    expect(rec.generation).toBe(6);
    expect(rec.previous).toEqual({ digest: r.digest, version: r.version, slot: "green", generation: 4 });
    expect(state.apps.web?.history.map((h) => h.id)).toEqual([rec.id, older.id]);
  });

  it("starts and ends steps, keeping detail and ending the latest open entry", () => {
    const state = emptyState();
    const rec = beginDeploy(state, { app: "web", trigger: "cli", version: "v1", startedAt: T0 });
    startStep(rec, "resolve", T0);
    endStep(rec, "resolve", T1, "sha256:…");
    startStep(rec, "pull", T1);
    expect(rec.steps).toEqual([
      { name: "resolve", startedAt: T0, endedAt: T1, detail: "sha256:…" },
      { name: "pull", startedAt: T1 },
    ]);
  });

  it("rejects ending a step that was never started", () => {
    const state = emptyState();
    const rec = beginDeploy(state, { app: "web", trigger: "cli", version: "v1", startedAt: T0 });
    expect(() => endStep(rec, "drain", T1)).toThrow(/step drain ended but was never started/);
  });

  it("finishes a running deploy with its error and ends the failed step, saying how it ended", () => {
    const state = emptyState();
    const rec = beginDeploy(state, { app: "web", trigger: "poll", version: "v1", startedAt: T0 });
    startStep(rec, "create", T0);
    endStep(rec, "create", T0, "web-green");
    startStep(rec, "start", T0);
    const error = { code: "GREEN_UNHEALTHY", message: "the new release web-green not healthy after 60s" };
    finishDeploy(state, "web", rec.id, { outcome: "failed", error, endedAt: T1 });
    expect(rec).toMatchObject({
      outcome: "failed",
      error,
      endedAt: T1,
      steps: [
        { name: "create", startedAt: T0, endedAt: T0, detail: "web-green" },
        { name: "start", startedAt: T0, endedAt: T1, detail: "failed (GREEN_UNHEALTHY)" },
      ],
    });
  });

  it("ends the step an aborted deploy stopped in", () => {
    const state = emptyState();
    const rec = beginDeploy(state, { app: "web", trigger: "cli", version: "v2", startedAt: T0 });
    startStep(rec, "pull", T0);
    finishDeploy(state, "web", rec.id, { outcome: "aborted", error: { code: "DEPLOY_ABORTED", message: "the agent is stopping (SIGTERM)" }, endedAt: T2 });
    expect(rec.steps).toEqual([{ name: "pull", startedAt: T0, endedAt: T2, detail: "aborted (DEPLOY_ABORTED)" }]);
  });

  it("leaves a succeeding deploy's record step for the deploy to end with its own detail", () => {
    const state = emptyState();
    const rec = beginDeploy(state, { app: "web", trigger: "cli", version: "v1", startedAt: T0 });
    startStep(rec, "record", T0);
    finishDeploy(state, "web", rec.id, { outcome: "succeeded", endedAt: T1 });
    endStep(rec, "record", T2, "kept deploy-agent/web:gen-1");
    expect(rec.steps).toEqual([{ name: "record", startedAt: T0, endedAt: T2, detail: "kept deploy-agent/web:gen-1" }]);
  });

  it("refuses to finish an unknown or already finished deploy", () => {
    const state = emptyState();
    const rec = beginDeploy(state, { app: "web", trigger: "poll", version: "v1", startedAt: T0 });
    finishDeploy(state, "web", rec.id, { outcome: "succeeded", endedAt: T1 });
    expect(() => finishDeploy(state, "web", rec.id, { outcome: "aborted", endedAt: T2 })).toThrow(/already finished/);
    expect(() => finishDeploy(state, "api", "99", { outcome: "aborted", endedAt: T2 })).toThrow(/not in the state file/);
  });
});

describe("releases", () => {
  it("promotes a release to the front and returns the releases beyond keep", () => {
    const state = emptyState();
    const [a, b, c] = [release("a", "1"), release("b", "2"), release("c", "3")];
    expect(promoteLive(state, "web", a, live(a, 1), 2)).toEqual([]);
    expect(promoteLive(state, "web", b, live(b, 2), 2)).toEqual([]);
    expect(promoteLive(state, "web", c, live(c, 3), 2)).toEqual([a]);
    expect(state.apps.web?.releases).toEqual([c, b]);
    expect(state.apps.web?.live).toEqual(live(c, 3));
  });

  it("replaces the first release when the same digest is promoted again", () => {
    const state = emptyState();
    const a = release("a", "1", { keepTag: "deploy-agent/web:rollback-1" });
    promoteLive(state, "web", a, live(a, 1), 3);
    const again = release("a", "2", { version: "latest" });
    expect(promoteLive(state, "web", again, live(again, 2), 3)).toEqual([]);
    expect(state.apps.web?.releases).toEqual([{ ...again, keepTag: "deploy-agent/web:rollback-1" }]);
  });

  it("moves a rolled-back-to digest to the front instead of duplicating it, so its image is never returned for deletion", () => {
    const state = emptyState();
    const [a, b] = [release("a", "1"), release("b", "2")];
    promoteLive(state, "web", a, live(a, 1), 2);
    promoteLive(state, "web", b, live(b, 2), 2);
    const backToA = release("a", "3");
    expect(promoteLive(state, "web", backToA, live(backToA, 3), 2)).toEqual([]);
    expect(state.apps.web?.releases.map((r) => r.deployId)).toEqual(["3", "2"]);
  });

  it("rejects a keep below 1 and a live that is not the release", () => {
    const state = emptyState();
    const [a, b] = [release("a", "1"), release("b", "2")];
    expect(() => promoteLive(state, "web", a, live(a, 1), 0)).toThrow(/keep must be an integer/);
    expect(() => promoteLive(state, "web", a, live(b, 1), 2)).toThrow(/is not the live digest/);
  });

  it("finds a release by digest, index digest or version, newest first", () => {
    const state = emptyState();
    const a = release("a", "1", { version: "v1", indexDigest: digest("e") });
    const b = release("b", "2", { version: "v1" });
    promoteLive(state, "web", a, live(a, 1), 5);
    promoteLive(state, "web", b, live(b, 2), 5);
    const app = state.apps.web!;
    expect(findRelease(app, digest("a"))).toBe(app.releases[1]);
    expect(findRelease(app, digest("e"))).toBe(app.releases[1]);
    expect(findRelease(app, "v1")).toBe(app.releases[0]);
    expect(findRelease(app, "v9")).toBeUndefined();
  });

  it("names the newest release that is not live as the previous one", () => {
    const state = emptyState();
    const [a, b] = [release("a", "1"), release("b", "2")];
    const app = ensureApp(state, "web");
    expect(previousRelease(app)).toBeUndefined();
    promoteLive(state, "web", a, live(a, 1), 5);
    expect(previousRelease(app)).toBeUndefined();
    promoteLive(state, "web", b, live(b, 2), 5);
    expect(previousRelease(app)).toEqual(a);
    app.live = live(a, 3);
    expect(previousRelease(app)).toEqual(b);
  });
});

describe("skip list", () => {
  it("adds skip entries newest first and refreshes a digest already listed", () => {
    const state = emptyState();
    addSkip(state, "web", skip("a", "1"));
    addSkip(state, "web", skip("b", "2"));
    addSkip(state, "web", skip("a", "3", "rolled-back"));
    expect(state.apps.web?.skip).toEqual([skip("a", "3", "rolled-back"), skip("b", "2")]);
    expect(isSkipped(state.apps.web!, digest("a"))).toBe(true);
    expect(isSkipped(state.apps.web!, digest("c"))).toBe(false);
  });
});

describe("errors", () => {
  it("throws AgentErrors with code INTERNAL for caller bugs", () => {
    const state = emptyState();
    try {
      finishDeploy(state, "web", "1", { outcome: "failed", endedAt: T0 });
      expect.unreachable();
    } catch (err) {
      expect(isAgentError(err, "INTERNAL")).toBe(true);
    }
  });
});
