// The daemon's own start, with stdout a file that $JOURNAL_STREAM names: what journald would receive
// when the config is bad. Runs dist/ (npm run build), without the Engine.
import { spawn } from "node:child_process";
import { closeSync, existsSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DAEMON } from "../support/agent.js";

const SKIP_REASON = `${DAEMON} is missing; run npm run build first`;
if (!existsSync(DAEMON)) console.warn(`log-daemon.test.ts: skipping: ${SKIP_REASON}`);

const dir = mkdtempSync(join(tmpdir(), "jl-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the daemon with stdout on `out`, as systemd would with StandardOutput=journal; resolves with its exit code and stderr. */
function runOnFakeJournal(args: string[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const outPath = join(dir, `stdout-${Math.random().toString(36).slice(2)}`);
  const fd = openSync(outPath, "w");
  const st = fstatSync(fd, { bigint: true });
  return new Promise((res) => {
    const child = spawn(process.execPath, [DAEMON, ...args], {
      env: { ...process.env, LOG_FORMAT: "", CREDENTIALS_DIRECTORY: "", JOURNAL_STREAM: `${st.dev}:${st.ino}`, ...env },
      stdio: ["ignore", fd, "pipe"],
    });
    closeSync(fd);
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("exit", (code) => res({ code, stdout: readFileSync(outPath, "utf8"), stderr }));
  });
}

describe.skipIf(!existsSync(DAEMON))(`the daemon's journal lines (skipped if: ${SKIP_REASON})`, () => {
  const config = join(dir, "agent.yaml");
  writeFileSync(config, "apps:\n  web:\n    image: registry.example/web\n    port: not-a-port\n    schedule: 5\n");

  it("jl logs a bad config as one critical line and one error-priority line per problem, in text", async () => {
    const r = await runOnFakeJournal(["--config", config], {});
    expect(r.code).toBe(78);
    const lines = r.stdout.trimEnd().split("\n");
    // The hint's words belong to the config loader; here only where they go matters.
    expect(lines[0]).toMatch(new RegExp(`^<2>${config.replace(/[.]/g, "\\.")} has 3 problems: code=CONFIG_INVALID hint="(?:[^"\\\\]|\\\\.)+"$`));
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(/^<3>apps\.web\.schedule: .* \(agent\.yaml line 5\) code=CONFIG_INVALID$/),
      expect.stringMatching(/^<3>apps\.web\.port: .* \(agent\.yaml line 4\) code=CONFIG_INVALID$/),
      expect.stringMatching(/^<3>apps\.web\.health: .* \(agent\.yaml line 3\) code=CONFIG_INVALID$/),
    ]);
    // stderr keeps the whole message as before, for a person at a terminal.
    expect(r.stderr.split("\n")[0]).toBe(`deploy-agent: ${config} has 3 problems:`);
  });

  it("jl refuses to start on an unknown LOG_FORMAT, saying so in the journal's default text and on stderr", async () => {
    const r = await runOnFakeJournal(["--config", config], { LOG_FORMAT: "xml" });
    expect(r.code).toBe(78);
    expect(r.stdout).toMatch(/^<2>LOG_FORMAT is "xml"; expected "json" or "text" code=CONFIG_INVALID hint="[^"]+"\n$/);
    expect(r.stderr).toContain('deploy-agent: LOG_FORMAT is "xml"; expected "json" or "text"');
  });
});
