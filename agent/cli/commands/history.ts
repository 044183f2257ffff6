// `agentctl history [app] [--limit N]`: recent deploys, newest first, as a table.
import { HistoryRequest, RESULT_SCHEMAS } from "../../control/protocol.js";
import { checkPositionals, dropUndefined, parsePositiveInt, validateRequest, type Command } from "../command.js";
import { durationBetween, formatTime, shortDigest, table, truncate } from "../output.js";

export const historyCommand: Command = {
  verb: "history",
  usage: "history [app] [--limit N]",
  summary: "recent deploys, newest first",
  help: `Prints the recorded deploys of every app (or only app's), newest first: id, start time,
trigger (poll, cli, rollback), version, digest, outcome, duration and error.`,
  flags: { limit: { value: "N", description: "show at most N deploys (a positive integer)" } },
  maxPositionals: 1,
  async run(args, ctx) {
    checkPositionals(this, args);
    const limitText = args.flags.get("limit");
    const raw = { app: args.positionals[0], limit: limitText === undefined ? undefined : parsePositiveInt("limit", limitText) };
    const req = validateRequest("history", HistoryRequest, dropUndefined(raw), { app: "app", limit: "--limit" });
    const records = await ctx.call("history", req, RESULT_SCHEMAS.history);
    if (ctx.json) {
      ctx.out.document(records);
      return 0;
    }
    if (records.length === 0) {
      ctx.out.line("no deploys recorded");
      return 0;
    }
    const rows = records.map((r) => [
      `#${r.id}`,
      r.app,
      formatTime(r.startedAt),
      r.trigger,
      r.version,
      shortDigest(r.digest),
      r.outcome,
      durationBetween(r.startedAt, r.endedAt),
      r.error ? truncate(`${r.error.code}: ${r.error.message}`, 80) : "",
    ]);
    for (const line of table(["ID", "APP", "WHEN", "TRIGGER", "VERSION", "DIGEST", "OUTCOME", "DURATION", "ERROR"], rows)) ctx.out.line(line);
    return 0;
  },
};
