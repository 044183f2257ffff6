// `agentctl completion bash|zsh|fish` prints a completion script; the hidden `agentctl __complete apps`
// is what that script runs at each Tab to list the configured apps, so they are never frozen into it.
import { parseDocument } from "yaml";
import { APP_NAME_RE } from "../../config/schema.js";
import { StatusReport } from "../../control/protocol.js";
import { badArgument, checkPositionals, type Command, type CommandContext } from "../command.js";
import { SHELLS, completionModel, completionScript, type Shell, type VerbEntry } from "../completion.js";

/** A Tab waits on this at most: a daemon that does not answer by then completes no app names. */
export const COMPLETE_TIMEOUT_MS = 2000;

/** `commands` is read when the verb runs, so the table can hold this command too. */
export function completionCommand(commands: () => readonly VerbEntry[]): Command {
  return {
    verb: "completion",
    usage: `completion ${SHELLS.join("|")}`,
    summary: "print a shell completion script",
    help: `Prints a completion script for bash, zsh or fish that completes verbs, flags and app names.
App names are asked for at each Tab (agentctl __complete apps): from the --config file given on
the line, else from the running daemon; while the daemon is down, no app names are offered.
  bash: agentctl completion bash | sudo tee /usr/share/bash-completion/completions/agentctl
        (install.sh installs it there)
  zsh:  agentctl completion zsh > "\${fpath[1]}/_agentctl"
  fish: agentctl completion fish > ~/.config/fish/completions/agentctl.fish`,
    flags: {},
    maxPositionals: 1,
    async run(args, ctx) {
      checkPositionals(this, args);
      const shell = args.positionals[0];
      if (shell === undefined || !(SHELLS as readonly string[]).includes(shell)) {
        const got = shell === undefined ? "nothing" : `"${shell}"`;
        throw badArgument(`completion: shell: expected one of ${SHELLS.join(", ")}, got ${got}`, "agentctl completion bash");
      }
      // Written as is: the script is code for the shell, and Output would strip nothing from it anyway.
      ctx.raw(completionScript(shell as Shell, completionModel(commands())));
      return 0;
    },
  };
}

export const completeCommand: Command = {
  verb: "__complete",
  hidden: true,
  usage: "__complete apps",
  summary: "the app names, one a line, for the completion scripts",
  help: "Prints the configured app names, one a line: from --config if given, else from the daemon. Prints nothing when neither answers.",
  flags: {},
  maxPositionals: 1,
  async run(args, ctx) {
    checkPositionals(this, args);
    if (args.positionals[0] !== "apps") throw badArgument(`__complete: expected "apps", got ${JSON.stringify(args.positionals[0] ?? null)}`);
    // A Tab must never print an error into the person's command line: any failure completes nothing.
    const apps = await appNames(ctx).catch(() => []);
    for (const app of apps) ctx.raw(`${app}\n`);
    return 0;
  },
};

async function appNames(ctx: CommandContext): Promise<string[]> {
  if (ctx.configPath !== undefined) return configApps(ctx.readFile(ctx.configPath));
  const report = await ctx.call("status", {}, StatusReport, undefined, COMPLETE_TIMEOUT_MS);
  return report.apps.map((a) => a.app).filter((a) => APP_NAME_RE.test(a));
}

/** The keys of `apps` in an agent.yaml that may not validate otherwise; only names an app may have. */
export function configApps(text: string): string[] {
  const apps = (parseDocument(text).toJS() as { apps?: unknown } | null)?.apps;
  if (apps === null || typeof apps !== "object" || Array.isArray(apps)) return [];
  return Object.keys(apps).filter((a) => APP_NAME_RE.test(a));
}
