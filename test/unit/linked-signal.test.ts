import { describe, expect, it } from "vitest";
import { linkedSignal } from "../../agent/abort.js";

describe("linkedSignal (the shutdown signal's child without AbortSignal.any)", () => {
  it("fires with the parent's reason when the parent aborts", () => {
    const parent = new AbortController();
    const { signal, dispose } = linkedSignal(parent.signal);
    parent.abort("the agent is stopping (SIGTERM)");
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe("the agent is stopping (SIGTERM)");
    dispose();
  });

  it("starts aborted when the parent already is", () => {
    const parent = new AbortController();
    parent.abort("gone");
    const { signal, dispose } = linkedSignal(parent.signal);
    expect(signal.reason).toBe("gone");
    dispose();
  });

  it("fires with a TimeoutError once its time is up", async () => {
    const { signal, dispose } = linkedSignal(undefined, 5);
    await new Promise<void>((res) => signal.addEventListener("abort", () => res(), { once: true }));
    expect((signal.reason as DOMException).name).toBe("TimeoutError");
    dispose();
  });

  it("no longer follows the parent once disposed, and its timer no longer fires", async () => {
    const parent = new AbortController();
    const { signal, dispose } = linkedSignal(parent.signal, 5);
    const timersBefore = process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    dispose();
    expect(process.getActiveResourcesInfo().filter((r) => r === "Timeout").length).toBe(timersBefore - 1);
    parent.abort("later");
    expect(signal.aborted).toBe(false);
  });
});
