import { describe, expect, it } from "vitest";
import { limitConcurrency } from "../../agent/deploy/limit.js";
import { jitterMs } from "../../agent/daemon/poller.js";

describe("poll jitter", () => {
  it("delays a tick by up to the configured jitter", () => {
    expect(jitterMs(10_000, 300_000, () => 0)).toBe(0);
    expect(jitterMs(10_000, 300_000, () => 0.5)).toBe(5_000);
    expect(jitterMs(10_000, 300_000, () => 0.999999)).toBe(9_999);
  });

  it("never delays a tick by more than a quarter of the app's period", () => {
    expect(jitterMs(10_000, 2_000, () => 0.999999)).toBe(499);
    expect(jitterMs(10_000, 0, () => 0.5)).toBe(0);
  });
});

describe("concurrency limit", () => {
  it("runs at most n at once, the rest in arrival order", async () => {
    const limit = limitConcurrency(2);
    let active = 0;
    let peak = 0;
    const order: number[] = [];
    const gates: (() => void)[] = [];
    const tasks = [0, 1, 2, 3, 4].map((i) =>
      limit(async () => {
        active++;
        peak = Math.max(peak, active);
        order.push(i);
        await new Promise<void>((r) => gates.push(r));
        active--;
        return i;
      }),
    );
    for (let k = 0; k < 5; k++) {
      await new Promise((r) => setImmediate(r));
      gates.shift()?.();
    }
    expect(await Promise.all(tasks)).toEqual([0, 1, 2, 3, 4]);
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4]);
  });

  it("frees a slot when the task throws", async () => {
    const limit = limitConcurrency(1);
    await expect(limit(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(await limit(async () => "next")).toBe("next");
  });
});
