// The table of agentctl's verbs: --help, the parser and the completion scripts all read it, so a verb
// file added here is known to all three. Kept apart from agentctl.ts, which runs at import.
import type { Command, FlagSpec } from "./command.js";
import { checkCommand } from "./commands/check.js";
import { completeCommand, completionCommand } from "./commands/completion.js";
import { deployCommand } from "./commands/deploy.js";
import { historyCommand } from "./commands/history.js";
import { logsCommand } from "./commands/logs.js";
import { notifyCommand } from "./commands/notify.js";
import { resumeCommand } from "./commands/resume.js";
import { rollbackCommand } from "./commands/rollback.js";
import { statusCommand } from "./commands/status.js";

export const HELP_COMMAND: Pick<Command, "verb" | "usage" | "summary" | "maxPositionals" | "flags"> = {
  verb: "help",
  usage: "help [verb]",
  summary: "this text, or the details of one verb",
  maxPositionals: 1,
  flags: {},
};

export const COMMANDS: readonly Command[] = [
  deployCommand,
  rollbackCommand,
  statusCommand,
  historyCommand,
  logsCommand,
  resumeCommand,
  checkCommand,
  notifyCommand,
  completionCommand(() => [...COMMANDS, HELP_COMMAND]),
  completeCommand,
];

/** The verbs a person sees in --help, errors and completion. */
export function visibleCommands(): Command[] {
  return COMMANDS.filter((c) => !c.hidden);
}

export function findCommand(verb: string): Command | undefined {
  return COMMANDS.find((c) => c.verb === verb);
}

export function verbFlags(verb: string): Record<string, FlagSpec> | undefined {
  return verb === "help" ? HELP_COMMAND.flags : findCommand(verb)?.flags;
}
