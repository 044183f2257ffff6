// `agentctl logs [app] [--role R] [-f] [--since 10m] [--tail N]`: the live release's output,
// read by the daemon from the Engine's log API, as `docker logs` and `kamal app logs` print it.
import { LogsRequest, RESULT_SCHEMAS, type LogLine } from "../../control/protocol.js";
import { parseDurationMs } from "../../config/duration.js";
import { badArgument, checkPositionals, dropUndefined, parsePositiveInt, validateRequest, type Command } from "../command.js";

export const logsCommand: Command = {
  verb: "logs",
  usage: "logs [app] [--role R] [-f] [--since D] [--tail N]",
  summary: "the live release's output (web's, or a role's)",
  help: `Prints the output of the app's live container, as docker logs does: its stdout on stdout,
its stderr on stderr, terminal control characters removed. --role R reads the role's container
instead of web's. -f (--follow) keeps printing as it writes, until the container stops or Ctrl-C.
--since 10m prints only what was written in the last 10 minutes (ms, s, m or h); --tail N only the
last N lines. With --json each line is one JSON object on its own line:
{"stream":"stdout"|"stderr","time":"<RFC 3339>","line":"…"}.`,
  flags: {
    role: { value: "R", description: "a role's container instead of web's (a key of the app's roles)" },
    follow: { value: "", description: "keep printing as the container writes, until it stops or Ctrl-C", switch: true, short: "f" },
    since: { value: "D", description: "only lines of the last D (30s, 10m, 48h)" },
    tail: { value: "N", description: "only the last N lines (a positive integer)" },
  },
  maxPositionals: 1,
  async run(args, ctx) {
    checkPositionals(this, args);
    const sinceText = args.flags.get("since");
    const sinceMs = sinceText === undefined ? undefined : parseDurationMs(sinceText);
    if (sinceText !== undefined && (sinceMs === undefined || sinceMs <= 0)) throw badArgument(`--since: expected a duration such as 30s, 10m or 48h, got "${sinceText}"`);
    const tailText = args.flags.get("tail");
    const raw = {
      app: args.positionals[0],
      role: args.flags.get("role"),
      follow: args.flags.has("follow") ? true : undefined,
      sinceMs,
      tail: tailText === undefined ? undefined : parsePositiveInt("tail", tailText),
    };
    const req = validateRequest("logs", LogsRequest, dropUndefined(raw), { app: "app", role: "--role", sinceMs: "--since", tail: "--tail" });
    await ctx.call("logs", req, RESULT_SCHEMAS.logs, (l: LogLine) => ctx.out.logLine(l));
    return 0;
  },
};
