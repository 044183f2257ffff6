// What an agentctl verb file declares, the command line around it, and argument validation that
// runs before any connection, so a typo exits 2 with the argument named and nothing sent.
import type { z } from "zod";
import { AgentError } from "../errors.js";
import type { DeployEvent, DeployOutcome, Verb } from "../control/protocol.js";
import { EventPrinter, outcomeExitCode, outcomeLine, printHooks, printOutcomeError, type Output } from "./output.js";

export interface FlagSpec {
  /** What the value looks like, for messages and help: "version|digest", "N"; "" for a switch. */
  value: string;
  description: string;
  /** Takes no value: present or not (`status --watch`); parsed into the flags map as "true". */
  switch?: true;
  /** A one-letter form of a switch, written `-f` (`logs -f` for `logs --follow`). */
  short?: string;
}

/** What one `agentctl <verb>` file exports. */
export interface Command {
  /** Left out of --help and of completion: agentctl's own plumbing (`__complete`). */
  hidden?: true;
  /** A protocol verb, or a verb agentctl answers itself without the daemon (completion). */
  verb: string;
  /** "deploy [app] [version]" */
  usage: string;
  summary: string;
  /** The text of `agentctl help <verb>` after the usage line. */
  help: string;
  /** The verb's own flags: each takes a value unless it is a switch. */
  flags: Record<string, FlagSpec>;
  maxPositionals: number;
  /** Validates `args` (throwing BAD_ARGUMENT before connecting), calls the daemon, prints; returns the exit status. */
  run(args: VerbArgs, ctx: CommandContext): Promise<number>;
}

export interface VerbArgs {
  positionals: string[];
  flags: Map<string, string>;
}

export interface CommandContext {
  json: boolean;
  out: Output;
  /**
   * Sends one request; `onEvent` receives the events of a streaming verb as they arrive. `timeoutMs`
   * shortens the client's deadline where a person is waiting on a keypress (completion).
   */
  /** `onEvent` gets the verb's events as EVENT_SCHEMAS reads them: a deploy's progress, a log's lines. */
  call<T>(verb: Verb, body: object, result: z.ZodType<T>, onEvent?: (e: never) => void, timeoutMs?: number): Promise<T>;
  /** The --config file given on the line, if any, and how to read it. */
  configPath?: string;
  readFile(path: string): string;
  /** Ends a long-running verb (status --watch) when the person presses Ctrl-C. */
  interrupted: AbortSignal;
  /** Whether stdout is a terminal: --watch redraws the screen only there. */
  isTTY: boolean;
  /** Writes to stdout as is: the one caller is the screen clear of status --watch on a terminal. */
  raw(text: string): void;
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export interface GlobalFlags {
  socket?: string;
  config?: string;
  json: boolean;
  help: boolean;
  version: boolean;
}

export interface ParsedArgv {
  globals: GlobalFlags;
  /** The verb as typed; undefined when none was given. */
  verb?: string;
  args: VerbArgs;
}

export const GLOBAL_VALUE_FLAGS: Record<string, FlagSpec> = {
  socket: { value: "PATH", description: "the daemon's control socket" },
  config: { value: "PATH", description: "read the socket path from this agent.yaml" },
};
export const GLOBAL_SWITCHES: Record<string, FlagSpec> = {
  json: { value: "", description: "print one JSON document on stdout", switch: true },
  help: { value: "", description: "print help", switch: true },
  version: { value: "", description: "print agentctl's version", switch: true },
};
export const SHORT_SWITCHES: Record<string, string> = { "-h": "help", "-V": "version" };

export function badArgument(message: string, hint?: string): AgentError {
  return new AgentError("BAD_ARGUMENT", message, hint === undefined ? {} : { hint });
}

/**
 * Splits argv into global flags, the verb, its positionals and its flags. Global flags go anywhere;
 * a verb's own flags come after the verb. `--flag value` and `--flag=value` both work; `--` ends flags.
 */
export function parseArgv(argv: readonly string[], verbFlags: (verb: string) => Record<string, FlagSpec> | undefined): ParsedArgv {
  const globals: GlobalFlags = { json: false, help: false, version: false };
  const positionals: string[] = [];
  const flags = new Map<string, string>();
  let verb: string | undefined;
  let onlyPositionals = false;

  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (onlyPositionals || !token.startsWith("-") || token === "-") {
      if (verb === undefined) verb = token;
      else positionals.push(token);
      continue;
    }
    if (token === "--") {
      onlyPositionals = true;
      continue;
    }
    const short = SHORT_SWITCHES[token];
    if (short !== undefined) {
      globals[short as "help" | "version"] = true;
      continue;
    }
    if (!token.startsWith("--")) {
      const own = verb === undefined ? undefined : Object.entries(verbFlags(verb) ?? {}).find(([, f]) => f.switch && f.short !== undefined && token === `-${f.short}`);
      if (!own) throw unknownFlag(token, verb, verbFlags);
      flags.set(own[0], "true");
      continue;
    }
    const eq = token.indexOf("=");
    const name = eq === -1 ? token.slice(2) : token.slice(2, eq);
    const inline = eq === -1 ? undefined : token.slice(eq + 1);

    if (Object.hasOwn(GLOBAL_SWITCHES, name)) {
      if (inline !== undefined) throw badArgument(`--${name} takes no value, got "${inline}"`);
      globals[name as "json" | "help" | "version"] = true;
      continue;
    }
    const spec = GLOBAL_VALUE_FLAGS[name] ?? (verb === undefined ? undefined : verbFlags(verb)?.[name]);
    if (spec === undefined) throw unknownFlag(`--${name}`, verb, verbFlags);
    if (spec.switch) {
      if (inline !== undefined) throw badArgument(`--${name} takes no value, got "${inline}"`);
      flags.set(name, "true");
      continue;
    }
    let value = inline;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || next.startsWith("--")) {
        throw badArgument(`--${name} needs a value (${spec.value})`, `write --${name} ${spec.value}`);
      }
      value = next;
      i++;
    }
    if (value === "") throw badArgument(`--${name} needs a value (${spec.value}), got an empty string`);
    if (name === "socket" || name === "config") globals[name] = value;
    else flags.set(name, value);
  }
  return verb === undefined ? { globals, args: { positionals, flags } } : { globals, verb, args: { positionals, flags } };
}

function unknownFlag(flag: string, verb: string | undefined, verbFlags: (verb: string) => Record<string, FlagSpec> | undefined): AgentError {
  const own = verb === undefined ? undefined : verbFlags(verb);
  if (verb === undefined || own === undefined) {
    return badArgument(`unknown flag ${flag}`, "see agentctl --help for the flags");
  }
  const names = Object.keys(own).map((n) => `--${n}`);
  return badArgument(
    `unknown flag ${flag} for ${verb}; ${verb} takes ${names.length > 0 ? names.join(", ") : "no flags of its own"}`,
    `see agentctl help ${verb}`,
  );
}

/** Rejects more positionals than `usage` allows. */
export function checkPositionals(cmd: Command, args: VerbArgs): void {
  if (args.positionals.length > cmd.maxPositionals) {
    const extra = args.positionals.slice(cmd.maxPositionals).map((p) => `"${p}"`).join(" ");
    throw badArgument(
      `${cmd.verb} takes at most ${cmd.maxPositionals} argument${cmd.maxPositionals === 1 ? "" : "s"} (agentctl ${cmd.usage}); unexpected ${extra}`,
      `see agentctl help ${cmd.verb}`,
    );
  }
}

/**
 * Checks a request against its protocol schema, naming the argument the user typed for each bad field
 * (`version "v 1": expected a tag …`), so the CLI and the daemon cannot disagree on what is valid.
 */
export function validateRequest<T>(verb: Verb, schema: z.ZodType<T>, request: Record<string, unknown>, argNames: Record<string, string>): T {
  const parsed = schema.safeParse(request);
  if (parsed.success) return parsed.data;
  const msgs = parsed.error.issues.map((issue) => {
    const field = String(issue.path[0] ?? "");
    const name = argNames[field] ?? field;
    const value = request[field];
    return `${name} ${JSON.stringify(value)}: ${issue.message}`;
  });
  throw badArgument(msgs.join("; "), `see agentctl help ${verb}`);
}

/** `--limit`: digits only, more than zero. */
export function parsePositiveInt(flag: string, text: string): number {
  const n = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < 1) throw badArgument(`--${flag}: expected a positive integer, got "${text}"`);
  return n;
}

/** Leaves out keys whose value is undefined, so the request carries only what was typed. */
export function dropUndefined(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Runs deploy or rollback: events as lines while it runs, then the outcome; exit 0 only when live. */
export async function streamDeploy(ctx: CommandContext, verb: Verb, req: object, schema: z.ZodType<DeployOutcome>): Promise<number> {
  const printer = new EventPrinter(ctx.out);
  const outcome = await ctx.call(verb, req, schema, (e) => printer.print(e));
  if (ctx.json) ctx.out.document(outcome);
  else {
    printer.stoppedIn(outcome);
    ctx.out.line(outcomeLine(outcome));
  }
  printHooks(ctx.out, outcome);
  printOutcomeError(ctx.out, outcome);
  return outcomeExitCode(outcome);
}
