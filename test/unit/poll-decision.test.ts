import { describe, expect, it } from "vitest";
import { decidePoll, retryAfterFailure, type PollInput, type RetryState } from "../../agent/deploy/poll-decision.js";
import type { AppState } from "../../agent/state/schema.js";
import { parseWindow } from "../../agent/config/window.js";

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;
const AT = "2026-11-29T10:00:00.000Z";
const err = { code: "PULL_FAILED", message: "pull of x failed: unexpected EOF" };
const policy = { initialMs: 5_000, maxMs: 40_000 };

function app(over: Partial<AppState> = {}): AppState {
  return {
    generation: 1,
    live: { version: "latest", digest: D1, slot: "blue", generation: 1, deployId: "1", since: AT, containerId: "c".repeat(64), imageId: `sha256:${"9".repeat(64)}` },
    releases: [],
    skip: [],
    history: [],
    ...over,
  } as AppState;
}

function input(over: Partial<PollInput> = {}): PollInput {
  return { app: app(), nowMs: 1_000, manual: false, ...over };
}

const newDigest = { ok: true as const, tag: "latest", digest: D2 };
const held: RetryState = { failures: 2, lastError: err, lastAt: AT, digest: D2, notBeforeMs: 11_000 };

describe("decidePoll", () => {
  it("pauses a pinned app before anything else", () => {
    const pin = { version: "v1", deployId: "1", since: AT };
    expect(decidePoll(input({ app: app({ pin }), running: { deployId: "2", step: "pull" }, answer: newDigest }))).toEqual({ kind: "paused" });
  });

  it("is busy while a deploy of the app runs", () => {
    expect(decidePoll(input({ running: { deployId: "2", step: "pull" } }))).toEqual({ kind: "busy", deployId: "2", step: "pull" });
  });

  it("asks the registry when nothing holds the app and no answer is in yet", () => {
    expect(decidePoll(input())).toEqual({ kind: "resolve" });
  });

  it("fails with the registry's error when it gave no digest", () => {
    const error = { code: "REGISTRY_UNAVAILABLE", message: "registry answered 500" };
    expect(decidePoll(input({ answer: { ok: false, error } }))).toEqual({ kind: "failed", error });
  });

  it("is unchanged when the tag names the live digest, even while that digest is held off", () => {
    expect(decidePoll(input({ answer: { ok: true, tag: "latest", digest: D1 }, retry: { ...held, digest: D1 } }))).toEqual({ kind: "unchanged", tag: "latest", digest: D1 });
  });

  it("skips a digest on the skip list", () => {
    const skip = [{ digest: D2, version: "latest", reason: "failed" as const, deployId: "2", at: AT }];
    expect(decidePoll(input({ app: app({ skip }), answer: newDigest }))).toEqual({ kind: "skipped", tag: "latest", digest: D2 });
  });

  it("backs off from a digest whose deploy failed for a passing reason until its time comes", () => {
    expect(decidePoll(input({ retry: held, answer: newDigest, nowMs: 6_000 }))).toEqual({ kind: "backing-off", tag: "latest", digest: D2, waitMs: 5_000 });
  });

  it("deploys the held-off digest once its time has come", () => {
    expect(decidePoll(input({ retry: held, answer: newDigest, nowMs: 11_000 }))).toEqual({ kind: "deploy", tag: "latest", digest: D2 });
  });

  it("deploys a held-off digest at once when a person asks (agentctl check)", () => {
    expect(decidePoll(input({ retry: held, answer: newDigest, nowMs: 6_000, manual: true }))).toEqual({ kind: "deploy", tag: "latest", digest: D2 });
  });

  it("deploys a new digest at once although another digest is held off", () => {
    expect(decidePoll(input({ retry: { ...held, digest: D1 }, app: app({ live: undefined }), answer: newDigest, nowMs: 6_000 }))).toEqual({ kind: "deploy", tag: "latest", digest: D2 });
  });

  it("deploys a new digest when nothing failed before", () => {
    expect(decidePoll(input({ answer: newDigest }))).toEqual({ kind: "deploy", tag: "latest", digest: D2 });
  });
});

// Wall times built from local calendar fields, so the windows hold in any TZ the suite runs in.
const NOON = new Date(2026, 10, 30, 12, 0).getTime();
const HOUR = 3_600_000;
const afternoon = [parseWindow("14:00-15:00")];
const auto = { mode: "auto" as const, minAgeMs: 0, nowWallMs: NOON };

describe("decidePoll with mode, window and minAge", () => {
  it("records a notify-mode app's new digest as available, fresh until it is recorded", () => {
    expect(decidePoll(input({ answer: newDigest, gate: { ...auto, mode: "notify" } }))).toEqual({ kind: "available", tag: "latest", digest: D2, fresh: true });
    const available = { version: "latest", digest: D2, since: AT };
    expect(decidePoll(input({ app: app({ available }), answer: newDigest, gate: { ...auto, mode: "notify" } }))).toEqual({ kind: "available", tag: "latest", digest: D2, fresh: false });
  });

  it("leaves a notify-mode app unchanged when the tag names the live digest", () => {
    expect(decidePoll(input({ answer: { ok: true, tag: "latest", digest: D1 }, gate: { ...auto, mode: "notify" } }))).toEqual({ kind: "unchanged", tag: "latest", digest: D1 });
  });

  it("holds a digest first seen now back for minAge", () => {
    expect(decidePoll(input({ answer: newDigest, gate: { ...auto, minAgeMs: HOUR } }))).toEqual({ kind: "too-young", tag: "latest", digest: D2, eligibleAtMs: NOON + HOUR });
  });

  it("counts minAge from the first sighting in the state file, and deploys once it has passed", () => {
    const seen = { version: "latest", digest: D2, since: new Date(NOON - 30 * 60_000).toISOString() };
    expect(decidePoll(input({ app: app({ seen }), answer: newDigest, gate: { ...auto, minAgeMs: HOUR } }))).toEqual({ kind: "too-young", tag: "latest", digest: D2, eligibleAtMs: NOON + 30 * 60_000 });
    expect(decidePoll(input({ app: app({ seen }), answer: newDigest, gate: { ...auto, minAgeMs: HOUR, nowWallMs: NOON + 30 * 60_000 } }))).toEqual({ kind: "deploy", tag: "latest", digest: D2 });
  });

  it("does not count a sighting of another digest toward minAge", () => {
    const seen = { version: "latest", digest: D1, since: new Date(NOON - 10 * HOUR).toISOString() };
    expect(decidePoll(input({ app: app({ seen, live: undefined }), answer: newDigest, gate: { ...auto, minAgeMs: HOUR } }))).toMatchObject({ kind: "too-young", eligibleAtMs: NOON + HOUR });
  });

  it("waits for a closed window with the time it opens", () => {
    expect(decidePoll(input({ answer: newDigest, gate: { ...auto, windows: afternoon } }))).toEqual({ kind: "waiting-window", tag: "latest", digest: D2, opensAtMs: new Date(2026, 10, 30, 14, 0).getTime() });
  });

  it("deploys inside an open window", () => {
    expect(decidePoll(input({ answer: newDigest, gate: { ...auto, windows: afternoon, nowWallMs: NOON + 2.5 * HOUR } }))).toEqual({ kind: "deploy", tag: "latest", digest: D2 });
  });

  it("waits for a person's check too: the gates hold for agentctl check, which only reports the wait", () => {
    expect(decidePoll(input({ answer: newDigest, manual: true, gate: { ...auto, windows: afternoon } }))).toMatchObject({ kind: "waiting-window" });
  });

  it("applies minAge before the window: a young digest says when it is eligible", () => {
    expect(decidePoll(input({ answer: newDigest, gate: { ...auto, minAgeMs: HOUR, windows: afternoon } }))).toMatchObject({ kind: "too-young" });
  });

  it("backs off from a failed digest before any gate", () => {
    expect(decidePoll(input({ retry: held, answer: newDigest, nowMs: 6_000, gate: { ...auto, windows: afternoon } }))).toMatchObject({ kind: "backing-off" });
  });

  it("skips a skipped digest in notify mode rather than offering it", () => {
    const skip = [{ digest: D2, version: "latest", reason: "failed" as const, deployId: "2", at: AT }];
    expect(decidePoll(input({ app: app({ skip }), answer: newDigest, gate: { ...auto, mode: "notify" } }))).toMatchObject({ kind: "skipped" });
  });

  it("pauses a pinned notify-mode app before anything else", () => {
    const pin = { version: "v1", deployId: "1", since: AT };
    expect(decidePoll(input({ app: app({ pin }), answer: newDigest, gate: { ...auto, mode: "notify" } }))).toEqual({ kind: "paused" });
  });
});

describe("retryAfterFailure", () => {
  it("counts failures in a row and holds the failed digest off for a doubling, jittered while", () => {
    const one = retryAfterFailure(undefined, { error: err, at: AT, nowMs: 0, digest: D2 }, policy, () => 1);
    expect(one).toEqual({ failures: 1, lastError: err, lastAt: AT, digest: D2, notBeforeMs: 5_000 });
    const two = retryAfterFailure(one, { error: err, at: AT, nowMs: 5_000, digest: D2 }, policy, () => 0);
    // Equal jitter: at least half the ceiling (10 s) after the second failure.
    expect(two).toMatchObject({ failures: 2, notBeforeMs: 10_000 });
  });

  it("never holds a digest off longer than poll.maxBackoff", () => {
    let r: RetryState | undefined;
    for (let i = 0; i < 20; i++) r = retryAfterFailure(r, { error: err, at: AT, nowMs: 0, digest: D2 }, policy, () => 1);
    expect(r).toMatchObject({ failures: 20, notBeforeMs: 40_000 });
  });

  it("counts a failed poll without lifting the hold on a digest whose deploy failed", () => {
    const pollErr = { code: "REGISTRY_UNAVAILABLE", message: "registry answered 500" };
    expect(retryAfterFailure(held, { error: pollErr, at: AT, nowMs: 6_000 }, policy)).toEqual({ failures: 3, lastError: pollErr, lastAt: AT, digest: D2, notBeforeMs: 11_000 });
    expect(retryAfterFailure(undefined, { error: pollErr, at: AT, nowMs: 6_000 }, policy)).toEqual({ failures: 1, lastError: pollErr, lastAt: AT });
  });
});
