// Reconcile's rule for a container newer than the live one (a deploy that failed while the Engine
// was frozen or away leaves one, and it may turn healthy once the Engine answers): one that may be
// serving is finished forward to, never removed while Traefik may route to it.
import { describe, expect, it } from "vitest";
import { mayTurnServing, outranksLive } from "../../agent/deploy/reconcile.js";

describe("a container that outranks the live one", () => {
  it("may be serving when it runs with a higher generation and is healthy or has no health check", () => {
    expect(outranksLive({ running: true, generation: 3, health: "healthy" }, 2)).toBe(true);
    expect(outranksLive({ running: true, generation: 3, health: "none" }, 2)).toBe(true);
  });

  it("is not serving while Docker keeps it out of routing (starting or unhealthy)", () => {
    expect(outranksLive({ running: true, generation: 3, health: "starting" }, 2)).toBe(false);
    expect(outranksLive({ running: true, generation: 3, health: "unhealthy" }, 2)).toBe(false);
  });

  it("is not serving when it is stopped, or when the live one outranks it", () => {
    expect(outranksLive({ running: false, generation: 3, health: "healthy" }, 2)).toBe(false);
    expect(outranksLive({ running: true, generation: 2, health: "healthy" }, 2)).toBe(false);
    expect(outranksLive({ running: true, generation: 1, health: "healthy" }, 2)).toBe(false);
  });
});

describe("a container that may turn into the one serving", () => {
  it("is one that outranks the live one while its health check is still starting, so reconcile waits for it to settle", () => {
    expect(mayTurnServing({ running: true, generation: 3, health: "starting" }, 2)).toBe(true);
  });

  it("is not one that has settled, is stopped, or is outranked by the live one", () => {
    for (const health of ["healthy", "unhealthy", "none"] as const) expect(mayTurnServing({ running: true, generation: 3, health }, 2)).toBe(false);
    expect(mayTurnServing({ running: false, generation: 3, health: "starting" }, 2)).toBe(false);
    expect(mayTurnServing({ running: true, generation: 2, health: "starting" }, 2)).toBe(false);
  });
});
