// The completion scripts as text: derived from the verb table (every verb and flag in each shell's
// script, a flag added to the table shows up), and each script parses in its own shell when that
// shell is installed (test/env/ensure.sh installs zsh and fish). Real completion in bash and fish,
// through the compiled agentctl, is in agentctl-shell.test.ts.
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { GLOBAL_SWITCHES, GLOBAL_VALUE_FLAGS, SHORT_SWITCHES } from "../../agent/cli/command.js";
import { SHELLS, completionModel, completionScript, firstArg, type Shell } from "../../agent/cli/completion.js";
import { COMMANDS, HELP_COMMAND, visibleCommands } from "../../agent/cli/verbs.js";

const TABLE = [...COMMANDS, HELP_COMMAND];
const has = (shell: string): boolean => spawnSync(shell, ["-c", "exit 0"]).status === 0;

function flagWord(shell: Shell, name: string): string {
  return shell === "fish" ? `-l ${name}` : `--${name}`;
}

describe("completion scripts", () => {
  it.each(SHELLS)("names every verb, every verb's flags and every global flag in the %s script, and no hidden verb among the verbs", (shell) => {
    const script = completionScript(shell, completionModel(TABLE));
    const verbs = [...visibleCommands(), HELP_COMMAND];
    expect(verbs.map((v) => v.verb)).toEqual(expect.arrayContaining(["deploy", "status", "completion", "help"]));
    for (const v of verbs) {
      expect(script, v.verb).toMatch(new RegExp(`(^|[\\s'(|])${v.verb}([\\s'):|]|$)`, "m"));
      for (const name of Object.keys(v.flags)) expect(script, `${v.verb} --${name}`).toContain(flagWord(shell, name));
    }
    for (const name of [...Object.keys(GLOBAL_VALUE_FLAGS), ...Object.keys(GLOBAL_SWITCHES)]) expect(script).toContain(flagWord(shell, name));
    for (const short of Object.keys(SHORT_SWITCHES)) expect(script).toContain(shell === "fish" ? `-s ${short.slice(1)}` : short);
    expect(script).not.toMatch(/-a __complete|[ '(]__complete [^a]|\b__complete\)/);
  });

  it.each(SHELLS)("picks up a verb and a flag added to the table without another list in the %s script", (shell) => {
    const extra = { verb: "frobnicate", usage: "frobnicate [app] [--level N]", summary: "a verb only this test has", flags: { level: { value: "N", description: "how much" } } };
    const script = completionScript(shell, completionModel([...TABLE, extra]));
    expect(script).toContain("frobnicate");
    expect(script).toContain(flagWord(shell, "level"));
  });

  it("reads what a verb's first argument is from its usage line", () => {
    expect(firstArg("status [app] [--watch]")).toEqual({ kind: "app" });
    expect(firstArg("rollback [app] [--to version|digest]")).toEqual({ kind: "app" });
    expect(firstArg("completion bash|zsh|fish")).toEqual({ kind: "words", words: ["bash", "zsh", "fish"] });
    expect(firstArg("notify test")).toEqual({ kind: "words", words: ["test"] });
    expect(firstArg("help [verb]")).toEqual({ kind: "verb" });
    expect(firstArg("history [--limit N]")).toEqual({ kind: "none" });
  });
});

describe("the scripts parse in their shells", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "completion-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cases: [Shell, string[]][] = [
    ["bash", ["-n"]],
    ["zsh", ["-n"]],
    ["fish", ["--no-execute"]],
  ];
  it.for(cases)("parses the %s script with %s (skipped when that shell is not installed)", async ([shell, flags], ctx) => {
    if (!has(shell)) ctx.skip();
    const file = join(dir, `agentctl.${shell}`);
    await writeFile(file, completionScript(shell, completionModel(TABLE)));
    const r = spawnSync(shell, [...flags, file], { encoding: "utf8" });
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("rejects a broken script in zsh -n and fish --no-execute, so the check above can fail", async (ctx) => {
    if (!has("zsh") || !has("fish")) ctx.skip();
    const file = join(dir, "broken");
    await writeFile(file, "if true; then\n");
    expect(spawnSync("zsh", ["-n", file]).status).not.toBe(0);
    await writeFile(file, "if true\n");
    expect(spawnSync("fish", ["--no-execute", file]).status).not.toBe(0);
  });
});
