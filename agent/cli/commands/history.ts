// `agentctl history [app] [--limit N]`: recent deploys, newest first, as a table.
import { HistoryRequest, RESULT_SCHEMAS } from "../../control/protocol.js";
import { checkPositionals, dropUndefined, parsePositiveInt, validateRequest, type Command } from "../command.js";
import type { HookRun } from "../../state/schema.js";
import { hookFailureWords } from "../../state/describe.js";
import { durationBetween, formatTime, shortDigest, table, truncate } from "../output.js";

/** A live release whose postdeploy failed: said in the error column, as nothing else failed. */
function postdeployWords(h: HookRun | undefined): string {
  const failure = hookFailureWords(h);
  return failure ? `postdeploy ${failure}` : "";
}

export const historyCommand: Command = {
  verb: "history",
  usage: "history [app] [--limit N]",
  summary: "recent deploys, newest first",
  help: `Prints the recorded deploys of every app (or only app's), newest first: id, start time,
trigger (poll, cli, rollback), version, digest, outcome, duration and error (or a failed
postdeploy). --json adds each release step's exit code and last output lines (hooks).`,
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
      r.error ? truncate(`${r.error.code}: ${r.error.message}`, 80) : postdeployWords(r.hooks?.postdeploy),
    ]);
    for (const line of table(["ID", "APP", "WHEN", "TRIGGER", "VERSION", "DIGEST", "OUTCOME", "DURATION", "ERROR"], rows)) ctx.out.line(line);
    return 0;
  },
};
