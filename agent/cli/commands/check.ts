// `agentctl check [app]`: poll the registry now, as a scheduled poll would, streaming any deploy it starts.
import { z } from "zod";
import { CheckRequest, CheckResult } from "../../control/protocol.js";
import { checkPositionals, dropUndefined, validateRequest, type Command } from "../command.js";
import { EventPrinter, outcomeLine, printHooks, printOutcomeError, shortDigest } from "../output.js";

export const checkCommand: Command = {
  verb: "check",
  usage: "check [app]",
  summary: "poll the registry now and deploy what changed",
  help: `Polls every app (or only app) now, exactly as a scheduled poll would: a new digest of the
tracked tag is deployed unless the app is pinned or the digest is skipped; an app in mode
notify records it as available instead, and a digest its window or minAge holds back waits
(the line says until when; agentctl deploy deploys at once). Deploy steps are
printed as they happen, then one line per app. Exit status 1 when any app's check failed.`,
  flags: {},
  maxPositionals: 1,
  async run(args, ctx) {
    checkPositionals(this, args);
    const req = validateRequest("check", CheckRequest, dropUndefined({ app: args.positionals[0] }), { app: "app" });
    const printer = new EventPrinter(ctx.out);
    const results = await ctx.call("check", req, z.array(CheckResult), (e) => printer.print(e));
    if (ctx.json) ctx.out.document(results);
    else for (const r of results) if (r.deploy) printer.stoppedIn(r.deploy);
    for (const r of results) {
      if (!ctx.json) ctx.out.line(`${r.app}  ${r.result.padEnd(9)}  ${shortDigest(r.digest)}  ${r.detail}`);
      if (r.deploy) {
        if (!ctx.json) ctx.out.line(`  ${outcomeLine(r.deploy)}`);
        printHooks(ctx.out, r.deploy);
        printOutcomeError(ctx.out, r.deploy);
      }
    }
    const failed = results.some((r) => r.result === "failed" || (r.deploy !== undefined && (r.deploy.outcome === "failed" || r.deploy.outcome === "aborted")));
    return failed ? 1 : 0;
  },
};
