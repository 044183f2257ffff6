import { describe, expect, it } from "vitest";
import { HostBackoff, backoffDelayMs, failureDelayMs, goDurationMs, parseRetryAfter } from "../../agent/registry/retry.js";

const NOW = Date.parse("2026-11-25T10:00:00Z");

describe("parseRetryAfter", () => {
  it("reads delay-seconds", () => {
    expect(parseRetryAfter("120", undefined, NOW)).toBe(120_000);
    expect(parseRetryAfter("0", undefined, NOW)).toBe(0);
  });

  it("reads an HTTP-date relative to now, never negative", () => {
    expect(parseRetryAfter("Wed, 25 Nov 2026 10:00:30 GMT", undefined, NOW)).toBe(30_000);
    expect(parseRetryAfter("Wed, 25 Nov 2026 09:59:00 GMT", undefined, NOW)).toBe(0);
  });

  it("falls back to GHCR's retry-after in the 429 body", () => {
    expect(parseRetryAfter(undefined, "toomanyrequests: retry-after: 880.092µs, allowed: 44000/minute", NOW)).toBeCloseTo(0.880092, 9);
    expect(parseRetryAfter(undefined, "toomanyrequests: retry-after: 1m30.5s, allowed: 2000/minute", NOW)).toBe(90_500);
  });

  it("prefers the header over the body and ignores what it cannot read", () => {
    expect(parseRetryAfter("5", "retry-after: 1h", NOW)).toBe(5000);
    expect(parseRetryAfter("soon", "busy", NOW)).toBeUndefined();
    expect(parseRetryAfter(undefined, undefined, NOW)).toBeUndefined();
  });
});

describe("goDurationMs", () => {
  it.each([
    ["880.092µs", 0.880092],
    ["1.5s", 1500],
    ["2h", 7_200_000],
    ["1m0.25s", 60_250],
    ["250ms", 250],
  ])("reads %s", (text, ms) => {
    expect(goDurationMs(text)).toBeCloseTo(ms, 9);
  });

  it("rejects text that is not wholly a duration", () => {
    expect(goDurationMs("5 s")).toBeUndefined();
    expect(goDurationMs("")).toBeUndefined();
  });
});

describe("backoffDelayMs", () => {
  const policy = { retries: 3, baseDelayMs: 500, maxDelayMs: 3000 };

  it("draws uniformly below an exponentially growing, capped ceiling", () => {
    expect([0, 1, 2, 3].map((a) => backoffDelayMs(a, policy, () => 1))).toEqual([500, 1000, 2000, 3000]);
    expect(backoffDelayMs(2, policy, () => 0.5)).toBe(1000);
    expect(backoffDelayMs(2, policy, () => 0)).toBe(0);
  });
});

describe("HostBackoff", () => {
  it("holds a host off until the time passes, keeping the longer of two holds", () => {
    let now = NOW;
    const backoff = new HostBackoff(() => now);
    backoff.holdOff("ghcr.io", 10_000);
    backoff.holdOff("ghcr.io", 2_000);
    expect(backoff.remainingMs("ghcr.io")).toBe(10_000);
    expect(backoff.remainingMs("quay.io")).toBe(0);
    now += 9_000;
    expect(backoff.remainingMs("ghcr.io")).toBe(1_000);
    now += 1_000;
    expect(backoff.remainingMs("ghcr.io")).toBe(0);
  });

  it("holds a host off for at most the policy's maximum (poll.maxBackoff), whatever Retry-After asked", () => {
    const backoff = new HostBackoff(() => NOW, { initialMs: 5_000, maxMs: 60_000 });
    expect(backoff.holdOff("ghcr.io", 86_400_000)).toBe(60_000);
    expect(backoff.remainingMs("ghcr.io")).toBe(60_000);
    expect(backoff.holdOff("quay.io", 30_000)).toBe(30_000);
  });
});

describe("failureDelayMs", () => {
  const policy = { initialMs: 5_000, maxMs: 300_000 };

  it("doubles per failure in a row from the initial delay, up to the maximum", () => {
    expect([1, 2, 3, 4, 10].map((n) => failureDelayMs(n, policy, () => 1))).toEqual([5_000, 10_000, 20_000, 40_000, 300_000]);
  });

  it("jitters within the upper half of the ceiling, so a failing host is always left alone a while", () => {
    expect(failureDelayMs(1, policy, () => 0)).toBe(2_500);
    expect(failureDelayMs(3, policy, () => 0.5)).toBe(15_000);
    expect(failureDelayMs(20, policy, () => 0)).toBe(150_000);
  });
});

describe("HostBackoff failures", () => {
  it("counts failures in a row per host, reports the last one while the backoff lasts, and forgets them on success", () => {
    let now = NOW;
    const backoff = new HostBackoff(() => now, { initialMs: 10_000, maxMs: 60_000 }, () => 1);
    expect(backoff.failed("ghcr.io", "HTTP 500")).toBe(10_000);
    expect(backoff.failed("ghcr.io", "HTTP 503")).toBe(20_000);
    expect(backoff.failure("ghcr.io")).toEqual({ count: 2, reason: "HTTP 503", remainingMs: 20_000 });
    expect(backoff.failure("quay.io")).toBeUndefined();
    now += 20_000;
    expect(backoff.failure("ghcr.io")).toBeUndefined();
    expect(backoff.failed("ghcr.io", "timeout")).toBe(40_000);
    backoff.succeeded("ghcr.io");
    expect(backoff.failure("ghcr.io")).toBeUndefined();
    expect(backoff.failed("ghcr.io", "HTTP 500")).toBe(10_000);
  });
});
