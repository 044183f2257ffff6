// Deadlines and durations on an injected clock: they follow that clock alone, so a jump of the
// wall clock (Date) neither ends a wait early nor stretches it.
import { afterEach, describe, expect, it, vi } from "vitest";
import { deadline, stopwatch } from "../../agent/clock.js";
import { HostBackoff } from "../../agent/registry/retry.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("deadline", () => {
  it("counts down on the clock it is given and reports what is left", () => {
    let now = 5_000;
    const d = deadline(20_000, () => now);
    expect(d.remainingMs()).toBe(20_000);
    now += 19_999;
    expect(d.passed()).toBe(false);
    expect(d.remainingMs()).toBe(1);
    now += 1;
    expect(d.passed()).toBe(true);
    expect(d.remainingMs()).toBe(0);
    expect(d.elapsedMs()).toBe(20_000);
  });

  it("is neither cut short by the wall clock jumping an hour forwards nor stretched by it jumping back", () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    let mono = 0;
    const d = deadline(20_000, () => mono);
    vi.setSystemTime(Date.now() + 3_600_000);
    expect(d.passed()).toBe(false);
    expect(d.remainingMs()).toBe(20_000);
    vi.setSystemTime(Date.now() - 7_200_000);
    mono += 20_000;
    expect(d.passed()).toBe(true);
  });
});

describe("stopwatch", () => {
  it("tells what a step took in seconds with one decimal, as the deploy records it", () => {
    let now = 100;
    const w = stopwatch(() => now);
    now += 3_249;
    expect(w.seconds()).toBe("3.2s");
    expect(w.elapsedMs()).toBe(3_249);
  });
});

describe("the default clock", () => {
  it("keeps a deadline whole when the wall clock jumps an hour forwards", () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const d = deadline(20_000);
    vi.setSystemTime(Date.now() + 3_600_000);
    expect(d.passed()).toBe(false);
  });

  it("keeps a registry's Retry-After hold to its length when the wall clock jumps, forwards or back", () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    const backoff = new HostBackoff();
    backoff.holdOff("ghcr.io", 10_000);
    backoff.holdOff("quay.io", 10_000);
    vi.setSystemTime(Date.now() + 3_600_000);
    expect(backoff.remainingMs("ghcr.io")).toBeGreaterThan(9_000);
    vi.setSystemTime(Date.now() - 7_200_000);
    expect(backoff.remainingMs("quay.io")).toBeLessThanOrEqual(10_000);
  });
});

describe("HostBackoff on an injected clock", () => {
  it("ends a hold when the injected clock has moved on by its length, whatever the wall clock says", () => {
    vi.useFakeTimers({ toFake: ["Date"] });
    let mono = 0;
    const backoff = new HostBackoff(() => mono);
    backoff.holdOff("ghcr.io", 10_000);
    vi.setSystemTime(Date.now() - 3_600_000);
    mono += 10_000;
    expect(backoff.remainingMs("ghcr.io")).toBe(0);
  });
});
