// `agentctl resume [app]`: unpin an app so polling deploys new digests again.
import { ResumeRequest, ResumeResult } from "../../control/protocol.js";
import { checkPositionals, dropUndefined, validateRequest, type Command } from "../command.js";

export const resumeCommand: Command = {
  verb: "resume",
  usage: "resume [app]",
  summary: "unpin an app so polling deploys again",
  help: `Removes the pin that "agentctl deploy <app> <version>" or "agentctl rollback" set, so the next
poll deploys the tracked tag again if its digest changed (a digest rolled back from or failed
before stays skipped: "agentctl deploy <app> <tag>" deploys it by hand). App may be omitted when only one app is configured.`,
  flags: {},
  maxPositionals: 1,
  async run(args, ctx) {
    checkPositionals(this, args);
    const req = validateRequest("resume", ResumeRequest, dropUndefined({ app: args.positionals[0] }), { app: "app" });
    const result = await ctx.call("resume", req, ResumeResult);
    if (ctx.json) ctx.out.document(result);
    else ctx.out.line(result.wasPinned ? `${result.app}: unpinned; polling resumes` : `${result.app}: was not pinned; polling was already active`);
    return 0;
  },
};
