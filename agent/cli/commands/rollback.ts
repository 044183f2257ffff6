// `agentctl rollback [app] [--to version|digest]`: put the previous (or a named) release back, streaming each step.
import { DeployOutcome, RollbackRequest } from "../../control/protocol.js";
import { checkPositionals, dropUndefined, streamDeploy, validateRequest, type Command } from "../command.js";

export const rollbackCommand: Command = {
  verb: "rollback",
  usage: "rollback [app] [--to version|digest]",
  summary: "go back to the previous release, or to the one named by --to",
  help: `Deploys the release that served before the live one, from the image kept on this host,
and prints each step as it happens. The app is then pinned to the release it went back to
("agentctl status" shows "pinned to v1.0.0 (rolled back from v1.1.0)"), and the release rolled
back from is skipped by polling even after "agentctl resume".

  agentctl rollback            the only configured app, to its previous release
  agentctl rollback web        app web, to its previous release
  agentctl rollback web --to v1.1.0
  agentctl rollback web --to sha256:<64 hex>

--to names a kept release by its version (tag) or digest; "agentctl status" lists them.
Exit status 0 when the release is live, 1 when the rollback failed or was aborted.
Ctrl-C stops watching only: the rollback goes on in the daemon ("agentctl status" shows it).`,
  flags: { to: { value: "version|digest", description: "the kept release to go back to" } },
  maxPositionals: 1,
  async run(args, ctx) {
    checkPositionals(this, args);
    const raw = { app: args.positionals[0], to: args.flags.get("to") };
    const req = validateRequest("rollback", RollbackRequest, dropUndefined(raw), { app: "app", to: "--to" });
    return streamDeploy(ctx, "rollback", req, DeployOutcome);
  },
};
