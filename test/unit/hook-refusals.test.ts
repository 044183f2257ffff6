// Refused hooks in the journal (agent/http/refusals.ts): one warning per reason a minute, the next
// one saying how many refusals went unsaid, so a scanner cannot fill the journal.
import { describe, expect, it } from "vitest";
import { RefusalLog } from "../../agent/http/refusals.js";
import { capturedLog, type LoggedLine } from "../support/captured-log.js";

const journal = () => capturedLog<LoggedLine & { remote?: string; alsoRefusedSinceLastWarning?: number }>();

describe("refused hooks in the journal", () => {
  it("says a reason once a minute, then how many refusals of it went unsaid", () => {
    const { lines, log } = journal();
    let now = 0;
    const refusals = new RefusalLog(log, () => now);
    for (let i = 0; i < 100; i++) refusals.refused("hook refused: signature missing or wrong", { remote: `10.0.0.${i}` });
    expect(lines).toEqual([expect.objectContaining({ level: 40, msg: "hook refused: signature missing or wrong", remote: "10.0.0.0" })]);
    now = 59_999;
    refusals.refused("hook refused: signature missing or wrong", { remote: "10.0.0.200" });
    expect(lines).toHaveLength(1);
    now = 60_000;
    refusals.refused("hook refused: signature missing or wrong", { remote: "10.0.0.201" });
    expect(lines[1]).toMatchObject({ remote: "10.0.0.201", alsoRefusedSinceLastWarning: 100 });
    now = 200_000;
    refusals.refused("hook refused: signature missing or wrong", { remote: "10.0.0.202" });
    expect(lines[2]).toMatchObject({ remote: "10.0.0.202" });
    expect(lines[2]?.alsoRefusedSinceLastWarning).toBeUndefined();
  });

  it("says each reason on its own", () => {
    const { lines, log } = journal();
    const refusals = new RefusalLog(log, () => 0);
    refusals.refused("hook refused: signature missing or wrong", {});
    refusals.refused("hook refused: body over the limit", { max: 1 });
    refusals.refused("hook refused: signature missing or wrong", {});
    expect(lines.map((l) => l.msg)).toEqual(["hook refused: signature missing or wrong", "hook refused: body over the limit"]);
  });
});
