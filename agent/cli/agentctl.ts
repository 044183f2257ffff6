#!/usr/bin/env node
// agentctl: the operator's client of deploy-agent's control socket (control/protocol.ts).
// Parses the command line, hands the verb to agent/cli/commands/<verb>.ts, maps errors to exit codes.
import { readFileSync } from "node:fs";
import { AgentError, exitCodeFor, toAgentError } from "../errors.js";
import { agentVersion } from "../version.js";
import { call, defaultSocketPath, resolveSocketPath } from "./client.js";
import { badArgument, checkPositionals, parseArgv, type Command, type CommandContext } from "./command.js";
import { Output, type Sink } from "./output.js";
import { HELP_COMMAND, findCommand, verbFlags, visibleCommands } from "./verbs.js";
import { sleep } from "../sleep.js";

export function usage(): string {
  const rows = [...visibleCommands(), HELP_COMMAND].map((c) => `  ${c.usage.padEnd(38)}${c.summary}`);
  return `agentctl: control the deploy-agent daemon on this host

Usage: agentctl [--socket PATH | --config PATH] [--json] <verb> [arguments]

Verbs:
${rows.join("\n")}

[app] may be left out when agent.yaml configures one app.

Global flags (anywhere on the line):
  --socket PATH    the daemon's control socket (default ${defaultSocketPath()})
  --config PATH    use the "socket" key of this agent.yaml (completion also reads
                   its app names; nothing else in it is read)
  --json           print exactly one JSON document on stdout: the result, or
                   {"error":{"code","message","hint"}}; progress goes to stderr
  -h, --help       print help; "agentctl help <verb>" for one verb
  -V, --version    print agentctl's version

Exit status: 0 done; 1 the deploy, rollback or check failed, or another error;
2 bad arguments; 3 another deploy is running; 4 the daemon cannot be reached.`;
}

export function verbHelp(cmd: Command): string {
  const flags = Object.entries(cmd.flags).map(([name, f]) => `  ${`${f.short ? `-${f.short}, ` : ""}--${f.switch ? name : `${name} ${f.value}`}`.padEnd(22)}${f.description}`);
  return `Usage: agentctl ${cmd.usage}

${cmd.help}${flags.length > 0 ? `\n\nFlags:\n${flags.join("\n")}` : ""}

Global flags: --socket PATH, --config PATH, --json (see agentctl --help).`;
}


export interface Io {
  stdout: Sink;
  stderr: Sink;
  readFile?: (path: string) => string;
  /** Fires on Ctrl-C; only status --watch listens, every other verb keeps Node's default. */
  interrupted?: AbortSignal;
  isTTY?: boolean;
  now?: () => number;
}

/** Runs agentctl with `argv` (without node and the script); returns the exit status. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const json = argv.includes("--json");
  const out = new Output(io.stdout, io.stderr, json);
  try {
    return await dispatch(argv, io, out);
  } catch (err) {
    const e = toAgentError(err);
    if (json) {
      out.document({ error: e.toJSON() });
    } else {
      out.problem(`agentctl: ${e.message}`);
      if (e.hint !== undefined) out.problem(`hint: ${e.hint}`);
    }
    return exitCodeFor(e.code);
  }
}

async function dispatch(argv: readonly string[], io: Io, out: Output): Promise<number> {
  const parsed = parseArgv(argv, verbFlags);
  const { globals, verb, args } = parsed;

  if (verb === "help") {
    if (args.positionals.length > 1) throw badArgument(`help takes at most one verb, got ${args.positionals.length}`);
    const topic = args.positionals[0];
    if (topic === undefined) return printHelp(io, usage());
    const cmd = findCommand(topic);
    if (!cmd) throw unknownVerb(topic);
    return printHelp(io, verbHelp(cmd));
  }
  if (verb !== undefined && findCommand(verb) === undefined) throw unknownVerb(verb);
  const cmd = verb === undefined ? undefined : findCommand(verb);
  if (globals.version) {
    io.stdout.write(`${globals.json ? JSON.stringify({ version: agentVersion() }) : `agentctl ${agentVersion()}`}\n`);
    return 0;
  }
  if (globals.help) return printHelp(io, cmd ? verbHelp(cmd) : usage());
  if (!cmd) throw badArgument("no verb given; expected one of " + visibleCommands().map((c) => c.verb).join(", "), "see agentctl --help");

  checkPositionals(cmd, args);
  let socketPath: string | undefined;
  const ctx: CommandContext = {
    json: globals.json,
    out,
    call: (verb, body, result, onEvent, timeoutMs) => {
      socketPath ??= resolveSocketPath(globals, io.readFile);
      return call({ socketPath, verb, body, result, ...(onEvent && { onEvent }), ...(timeoutMs !== undefined && { timeoutMs }) });
    },
    ...(globals.config !== undefined && { configPath: globals.config }),
    readFile: io.readFile ?? ((p) => readFileSync(p, "utf8")),
    interrupted: io.interrupted ?? new AbortController().signal,
    isTTY: io.isTTY ?? false,
    raw: (text) => io.stdout.write(text),
    now: io.now ?? Date.now,
    sleep,
  };
  return cmd.run(args, ctx);
}

function printHelp(io: Io, text: string): number {
  io.stdout.write(`${text}\n`);
  return 0;
}

function unknownVerb(verb: string): AgentError {
  return badArgument(`unknown verb "${verb}"; expected one of ${visibleCommands().map((c) => c.verb).join(", ")}, help`, "see agentctl --help");
}

// `agentctl status | head` closes the pipe early: that ends the output, it is not a crash.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code !== "EPIPE") throw err;
    process.exit(process.exitCode ?? 0);
  });
}
// Ctrl-C ends status --watch cleanly (exit 0). Only that verb listens: elsewhere a listener would
// replace Node's default exit on SIGINT, so the handler is added only when --watch is on the line.
const interrupt = new AbortController();
if (process.argv.includes("--watch")) process.once("SIGINT", () => interrupt.abort());
// Exit through process.exitCode so pending writes to a pipe finish first (https://nodejs.org/api/process.html#a-note-on-process-io).
process.exitCode = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  interrupted: interrupt.signal,
  isTTY: process.stdout.isTTY === true,
});
// A request still in flight at Ctrl-C would hold the process open until its deadline; stdout and
// stderr are written synchronously to terminals, files and (on Linux) pipes, so nothing is lost.
if (interrupt.signal.aborted) process.exit();
