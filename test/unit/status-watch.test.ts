// status's human form (the live release's age, the next poll) at a fixed clock, and the refresh loop
// of status --watch driven with an injected fetch, clock and sleep: what a person sees on a terminal
// and in a pipe, a daemon that goes away and comes back, and Ctrl-C.
import { describe, expect, it } from "vitest";
import type { StatusReport } from "../../agent/control/api.js";
import { statusLines } from "../../agent/cli/commands/status.js";
import { Output, formatAge } from "../../agent/cli/output.js";
import { CLEAR_SCREEN, watchLoop, type WatchLoop } from "../../agent/cli/watch.js";
import { AgentError } from "../../agent/errors.js";
import { oneAppReport, REPORT_AT } from "../support/status-report.js";

const AT = REPORT_AT;
const T0 = Date.parse(AT);
const DIGEST = `sha256:${"ab12cd34".repeat(8)}`;

function report(nextPoll: string | undefined): StatusReport {
  return oneAppReport({
    live: { deployId: "12", version: "v1.2.0", digest: DIGEST, imageId: "sha256:img", slot: "green", generation: 7, since: AT },
    ...(nextPoll === undefined ? {} : { nextPoll }),
  });
}

describe("status, human form", () => {
  it("shows how long the live release has served and when the next poll runs", () => {
    const now = T0 + (3 * 3600 + 12 * 60) * 1000;
    const lines = statusLines(report(new Date(now + 250_000).toISOString()), now);
    expect(lines).toContain("  live       v1.2.0  sha256:ab12cd34ab12  in slot green  generation 7  since 2025-01-01T10:00:00Z, 3h12m ago  (#12)");
    expect(lines).toContain("  polling    active, next poll in 4m10s (2025-01-01T13:16:10Z)");
  });

  it("says a poll whose time has passed is due now, and a poll not scheduled as such", () => {
    expect(statusLines(report("2025-01-01T09:59:00.000Z"), T0)).toContain("  polling    active, next poll due now (2025-01-01T09:59:00Z)");
    expect(statusLines(report(undefined), T0)).toContain("  polling    active, next poll not scheduled");
  });

  it("writes ages in the largest two units a person reads at a glance", () => {
    expect([0, 42_000, 250_000, 11_520_000, 2 * 86_400_000 + 3 * 3_600_000, -5000].map(formatAge)).toEqual(["0s", "42s", "4m10s", "3h12m", "2d03h", "0s"]);
  });
});

interface Screen {
  stdout: string;
  stderr: string;
}

/** A loop over scripted answers: each sleep moves the clock by the interval, and the last answer's sleep is Ctrl-C. */
function scripted(answers: (string[] | Error)[], isTTY: boolean): { loop: WatchLoop; screen: Screen; fetched: () => number } {
  const screen: Screen = { stdout: "", stderr: "" };
  const ctrlC = new AbortController();
  let now = T0;
  let fetched = 0;
  const loop: WatchLoop = {
    async fetch() {
      const a = answers[fetched++];
      if (a === undefined) throw new Error("fetched after Ctrl-C");
      if (a instanceof Error) throw a;
      return a;
    },
    title: "agentctl status",
    intervalMs: 2000,
    out: new Output({ write: (t: string) => (screen.stdout += t) }, { write: (t: string) => (screen.stderr += t) }, false),
    raw: (t) => (screen.stdout += t),
    isTTY,
    now: () => now,
    async sleep(ms) {
      now += ms;
      if (fetched === answers.length) ctrlC.abort();
    },
    signal: ctrlC.signal,
  };
  return { loop, screen, fetched: () => fetched };
}

describe("status --watch", () => {
  it("clears and redraws the screen on a terminal at each refresh, and exits 0 on Ctrl-C", async () => {
    const { loop, screen } = scripted([["web  v1"], ["web  v2"]], true);
    await expect(watchLoop(loop)).resolves.toBe(0);
    expect(screen.stdout).toBe(
      `${CLEAR_SCREEN}Every 2s: agentctl status    2025-01-01T10:00:00Z\n\nweb  v1\n` + `${CLEAR_SCREEN}Every 2s: agentctl status    2025-01-01T10:00:02Z\n\nweb  v2\n`,
    );
  });

  it("appends each refresh after a blank line when stdout is not a terminal, with no escape in it", async () => {
    const { loop, screen } = scripted([["web  v1"], ["web  v2"]], false);
    await watchLoop(loop);
    expect(screen.stdout).toBe("Every 2s: agentctl status    2025-01-01T10:00:00Z\n\nweb  v1\n\nEvery 2s: agentctl status    2025-01-01T10:00:02Z\n\nweb  v2\n");
  });

  it("shows the error while the daemon is away and keeps asking, then shows the status again", async () => {
    const away = new AgentError("DAEMON_UNAVAILABLE", "no control socket at /run/deploy-agent/agent.sock (ENOENT)", { hint: "systemctl status deploy-agent" });
    const { loop, screen, fetched } = scripted([away, away, ["web  v1"]], false);
    await expect(watchLoop(loop)).resolves.toBe(0);
    expect(fetched()).toBe(3);
    expect(screen.stderr.split("\n").filter((l) => l.startsWith("agentctl: no control socket"))).toHaveLength(2);
    expect(screen.stderr).toContain("hint: systemctl status deploy-agent\nasking again every 2s; Ctrl-C to stop\n");
    expect(screen.stdout.endsWith("Every 2s: agentctl status    2025-01-01T10:00:04Z\n\nweb  v1\n")).toBe(true);
  });

  it("stops at once on a bad argument, which asking again cannot mend", async () => {
    const bad = new AgentError("BAD_ARGUMENT", 'no app "blog" in agent.yaml; apps: web');
    const { loop, fetched } = scripted([bad, ["never shown"]], false);
    await expect(watchLoop(loop)).rejects.toBe(bad);
    expect(fetched()).toBe(1);
  });

  it("returns 0 on Ctrl-C while an answer is still awaited", async () => {
    const ctrlC = new AbortController();
    let asked!: () => void;
    const askedOnce = new Promise<void>((r) => (asked = r));
    const { loop } = scripted([], false);
    const running = watchLoop({
      ...loop,
      signal: ctrlC.signal,
      fetch: () => {
        asked();
        return new Promise<string[]>(() => {});
      },
    });
    await askedOnce;
    ctrlC.abort();
    await expect(running).resolves.toBe(0);
  });
});
