// `agentctl notify test`: a test event to every notify target, and one line per target with its result.
import { NotifyRequest, NotifyResult } from "../../control/protocol.js";
import { badArgument, checkPositionals, validateRequest, type Command } from "../command.js";

/** One line per target: name (scheme and host), format, ok or what failed, attempts; or why there is none. */
export function notifyLines(results: NotifyResult): string[] {
  if (results.length === 0) return ["no notify targets are configured (add a notify list to agent.yaml; see the README, Notifications)"];
  const width = Math.max(...results.map((r) => r.target.length));
  return results.map((r) => {
    const why = r.status !== undefined ? `HTTP ${r.status}` : (r.error ?? "no answer");
    const what = r.ok ? `ok${r.status !== undefined ? ` (${r.status})` : ""}` : `failed: ${why}`;
    return `${r.target.padEnd(width)}  ${r.format.padEnd(7)}  ${what}  (${r.attempts} attempt${r.attempts === 1 ? "" : "s"})`;
  });
}

export const notifyCommand: Command = {
  verb: "notify",
  usage: "notify test",
  summary: "send a test notification to every target",
  help: `Sends a "test" event to every target in agent.yaml's notify list (whatever its events say),
waits for each delivery (with its retries), and prints one line per target: its scheme and host,
its format, and ok or what failed. Exit status 1 when any target failed.`,
  flags: {},
  maxPositionals: 1,
  async run(args, ctx) {
    checkPositionals(this, args);
    const action = args.positionals[0];
    if (action === undefined) throw badArgument('notify needs an action: "agentctl notify test"', "see agentctl help notify");
    const req = validateRequest("notify", NotifyRequest, { action }, { action: "action" });
    const results = await ctx.call("notify", req, NotifyResult);
    if (ctx.json) ctx.out.document(results);
    else for (const line of notifyLines(results)) ctx.out.line(line);
    return results.some((r) => !r.ok) ? 1 : 0;
  },
};
