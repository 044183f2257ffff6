// The pure rules around the deploy's commit point: which slot green takes from what the Engine
// says runs, when reconcile finishes a deploy forward, the rollback that sticks, which digests
// may be skipped, and the test-only kill switch's parsing.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseKillPoint, testKillHook, TEST_KILL_ENV } from "../../agent/daemon/test-kill.js";
import { chooseSlots } from "../../agent/deploy/plan.js";
import { greenWasRouted } from "../../agent/deploy/reconcile.js";
import { createLogger } from "../../agent/log.js";
import { emptyState, type DeployRecord } from "../../agent/state/schema.js";
import { ensureApp, hasServed, stickRollback } from "../../agent/state/transitions.js";

const DIGEST_1 = `sha256:${"1".repeat(64)}`;
const DIGEST_2 = `sha256:${"2".repeat(64)}`;
const T0 = "2026-01-01T00:00:00.000Z";

describe("choosing green's slot from the Engine", () => {
  it("takes the slot the running container does not hold, even when the state file names the other", () => {
    expect(chooseSlots({ slot: "green" }, [{ slot: "green", running: false, generation: 4 }, { slot: "blue", running: true, generation: 3 }])).toEqual({ green: "green", blue: "blue" });
  });

  it("treats the newer of two running containers as the one serving", () => {
    expect(chooseSlots({ slot: "blue" }, [{ slot: "blue", running: true, generation: 5 }, { slot: "green", running: true, generation: 6 }])).toEqual({ green: "blue", blue: "green" });
  });

  it("falls back to the state's live slot when nothing runs, and to blue at the first deploy", () => {
    expect(chooseSlots({ slot: "blue" }, [{ slot: "blue", running: false, generation: 1 }])).toEqual({ green: "green" });
    expect(chooseSlots(undefined, [])).toEqual({ green: "blue" });
  });
});

describe("reconcile's view of an interrupted deploy", () => {
  const rec = (steps: DeployRecord["steps"]) => ({ steps });
  it("counts green as routed once start has ended, and in confirm, drain, stop and record", () => {
    expect(greenWasRouted(rec([{ name: "start", startedAt: T0, endedAt: T0 }]))).toBe(true);
    for (const name of ["confirm", "drain", "stop", "record"] as const) expect(greenWasRouted(rec([{ name, startedAt: T0 }]))).toBe(true);
  });

  it("does not count green as routed while start is still open or earlier", () => {
    expect(greenWasRouted(rec([{ name: "start", startedAt: T0 }]))).toBe(false);
    expect(greenWasRouted(rec([{ name: "create", startedAt: T0, endedAt: T0 }]))).toBe(false);
    expect(greenWasRouted(rec([]))).toBe(false);
  });
});

describe("digests that served", () => {
  it("pins a rollback to its release and skips what served before it, never the release itself", () => {
    const s = emptyState();
    const a = ensureApp(s, "web");
    a.live = { deployId: "2", version: "v2", digest: DIGEST_2, imageId: "i2", slot: "green", generation: 2, since: T0 };
    a.releases = [{ deployId: "1", version: "v1", digest: DIGEST_1, imageId: "i1", deployedAt: T0 }];
    stickRollback(s, "web", { version: "v1", digest: DIGEST_1, deployId: "3" }, T0);
    expect(a.pin).toEqual({ version: "v1", digest: DIGEST_1, deployId: "3", since: T0, rolledBackFrom: { version: "v2", digest: DIGEST_2 } });
    expect(a.skip.map((e) => [e.digest, e.reason])).toEqual([[DIGEST_2, "rolled-back"]]);
    expect(hasServed(a, DIGEST_1)).toBe(true);
    expect(hasServed(a, DIGEST_2)).toBe(true);
    expect(hasServed(a, `sha256:${"3".repeat(64)}`)).toBe(false);
  });
});

describe("the test-only kill switch", () => {
  it("reads <step>:<start|end>[:<n>]", () => {
    expect(parseKillPoint("drain:end")).toEqual({ step: "drain", phase: "end", nth: 1 });
    expect(parseKillPoint("stop:start:3")).toEqual({ step: "stop", phase: "start", nth: 3 });
  });

  it("refuses anything else, naming the variable", () => {
    for (const bad of ["drain", "drain:middle", "nope:start", "drain:end:0", "drain:end:1:2"]) {
      expect(() => parseKillPoint(bad)).toThrow(TEST_KILL_ENV);
    }
  });

  it("is never set by the installer or the systemd unit", () => {
    const root = join(import.meta.dirname, "../..");
    const files = [join(root, "install.sh"), ...readdirSync(join(root, "systemd")).map((f) => join(root, "systemd", f))];
    for (const f of files) expect(readFileSync(f, "utf8"), f).not.toContain(TEST_KILL_ENV);
  });

  it("is off when the variable is unset, and warns loudly at start when it is set", () => {
    const lines: string[] = [];
    const log = createLogger({ env: {}, destination: { write: (l: string) => void lines.push(l) } });
    expect(testKillHook({}, log)).toBeUndefined();
    expect(lines).toEqual([]);
    expect(testKillHook({ [TEST_KILL_ENV]: "record:end" }, log)).toBeTypeOf("function");
    expect(lines.some((l) => l.includes("TEST ONLY") && l.includes('"level":40'))).toBe(true);
  });
});
