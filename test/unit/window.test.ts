// Deploy windows: the grammar and the two pure questions (open now? opens when?), on the host's
// local time. The file runs in Europe/Berlin, set before any Date is made, so that the cases hold
// on any machine and one of them crosses a daylight-saving change (2026-03-29, 02:00 → 03:00).
process.env.TZ = "Europe/Berlin";

import { describe, expect, it } from "vitest";
import { isOpen, nextOpening, parseWindow } from "../../agent/config/window.js";
import { Config } from "../../agent/config/schema.js";

/** Local time in Berlin: month is 1-based here. 2026-11-30 is a Monday. */
const at = (y: number, mo: number, d: number, h: number, mi = 0) => new Date(y, mo - 1, d, h, mi);
const windows = (...texts: string[]) => texts.map(parseWindow);

describe("parseWindow", () => {
  it("reads a day range, a list, and no days as every day", () => {
    expect(parseWindow("Mon-Fri 02:00-05:00")).toMatchObject({ days: [1, 2, 3, 4, 5], startMin: 120, endMin: 300 });
    expect(parseWindow("Sat,Sun 00:00-24:00")).toMatchObject({ days: [0, 6], startMin: 0, endMin: 1440 });
    expect(parseWindow("22:30-01:15")).toMatchObject({ days: [0, 1, 2, 3, 4, 5, 6], startMin: 1350, endMin: 75 });
  });

  it("wraps a day range past Sunday", () => {
    expect(parseWindow("Fri-Mon 01:00-02:00").days).toEqual([0, 1, 5, 6]);
  });

  it("names the entry and the unknown day", () => {
    expect(() => parseWindow("Mon-Fry 02:00-05:00")).toThrow('"Mon-Fry 02:00-05:00": unknown day "Fry" (expected Mon, Tue, Wed, Thu, Fri, Sat or Sun)');
  });

  it("refuses a time that is not one, a malformed entry, and a window of no length", () => {
    expect(() => parseWindow("Mon 25:00-26:00")).toThrow('"Mon 25:00-26:00": "25:00" is not a time of day');
    expect(() => parseWindow("Mon 24:00-02:00")).toThrow('"Mon 24:00-02:00": "24:00" is not a time of day');
    expect(() => parseWindow("Mon 2:00-5:00")).toThrow('expected "<days> HH:MM-HH:MM"');
    expect(() => parseWindow("Mon 02:00-02:00")).toThrow("starts and ends at the same time");
  });
});

describe("the window key in agent.yaml", () => {
  const base = { apps: { web: { image: "ghcr.io/acme/web", port: 8000, health: { path: "/health" } } } };
  it("is parsed at load, and a bad entry's error names its place in the list", () => {
    const r = Config.safeParse({ apps: { web: { ...base.apps.web, window: ["Sat,Sun 00:00-24:00", "Mon-Fry 02:00-05:00"] } } });
    expect(r.success).toBe(false);
    expect(r.error?.issues.map((i) => [i.path.join("."), i.message])).toEqual([
      ["apps.web.window.1", '"Mon-Fry 02:00-05:00": unknown day "Fry" (expected Mon, Tue, Wed, Thu, Fri, Sat or Sun)'],
    ]);
  });

  it("leaves mode auto, no window and minAge off by default", () => {
    const c = Config.parse(base);
    expect(c.apps.web).toMatchObject({ mode: "auto", minAge: 0 });
    expect(c.apps.web!.window).toBeUndefined();
  });

  it("refuses an empty list and a minAge beyond 576h", () => {
    expect(Config.safeParse({ apps: { web: { ...base.apps.web, window: [] } } }).error?.issues[0]?.message).toContain("must list at least one window");
    expect(Config.safeParse({ apps: { web: { ...base.apps.web, minAge: "577h" } } }).error?.issues[0]?.message).toBe("must be between 0s and 576h, got 577h");
  });
});

describe("isOpen and nextOpening", () => {
  const nightly = windows("Mon-Fri 02:00-05:00", "Sat,Sun 00:00-24:00");

  it("is open inside a window and closed at its end", () => {
    expect(isOpen(nightly, at(2026, 11, 30, 2, 0))).toBe(true);
    expect(isOpen(nightly, at(2026, 11, 30, 4, 59))).toBe(true);
    expect(isOpen(nightly, at(2026, 11, 30, 5, 0))).toBe(false);
    expect(isOpen(nightly, at(2026, 12, 5, 13, 0))).toBe(true);
  });

  it("opens next at the start of the next window: the same night, or Saturday's midnight after Friday's", () => {
    expect(nextOpening(nightly, at(2026, 11, 30, 1, 30))).toEqual(at(2026, 11, 30, 2, 0));
    expect(nextOpening(nightly, at(2026, 11, 30, 12, 0))).toEqual(at(2026, 12, 1, 2, 0));
    expect(nextOpening(nightly, at(2026, 12, 4, 6, 0))).toEqual(at(2026, 12, 5, 0, 0));
  });

  it("answers the moment itself when a window is open", () => {
    const now = at(2026, 11, 30, 3, 0);
    expect(nextOpening(nightly, now)).toBe(now);
  });

  it("keeps an overnight window open past midnight into the next day, only after a day it starts on", () => {
    const fridayNight = windows("Fri 22:00-02:00");
    expect(isOpen(fridayNight, at(2026, 12, 4, 23, 0))).toBe(true);
    expect(isOpen(fridayNight, at(2026, 12, 5, 1, 59))).toBe(true);
    expect(isOpen(fridayNight, at(2026, 12, 5, 2, 0))).toBe(false);
    expect(isOpen(fridayNight, at(2026, 12, 4, 1, 0))).toBe(false);
    expect(nextOpening(fridayNight, at(2026, 12, 5, 2, 0))).toEqual(at(2026, 12, 11, 22, 0));
  });

  it("counts hours of the wall clock across a daylight-saving change", () => {
    const early = windows("Sun 01:00-04:00");
    // 2026-03-29 in Berlin: 02:00 CET becomes 03:00 CEST; the window is two real hours long that night.
    const opens = nextOpening(early, at(2026, 3, 28, 12, 0))!;
    expect(opens).toEqual(at(2026, 3, 29, 1, 0));
    expect(opens.getTimezoneOffset()).toBe(-60);
    const inside = new Date(opens.getTime() + 90 * 60_000);
    expect([inside.getHours(), inside.getMinutes(), inside.getTimezoneOffset()]).toEqual([3, 30, -120]);
    expect(isOpen(early, inside)).toBe(true);
    expect(isOpen(early, new Date(opens.getTime() + 2 * 3_600_000))).toBe(false);
    // An opening in the skipped hour comes at the first minute the wall clock shows after it.
    expect(nextOpening(windows("Sun 02:30-05:00"), at(2026, 3, 28, 12, 0))!.getHours()).toBe(3);
  });
});
