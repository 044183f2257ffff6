// `agentctl deploy [app] [version]`: deploy a version (pinning the app) or the tracked tag, streaming each step.
import { DeployOutcome, DeployRequest } from "../../control/protocol.js";
import { checkPositionals, streamDeploy, validateRequest, type Command } from "../command.js";

export const deployCommand: Command = {
  verb: "deploy",
  usage: "deploy [app] [version]",
  summary: "deploy a version (and pin the app to it), or the tracked tag",
  help: `Starts the new release beside the live one, waits until it is healthy, lets Traefik
switch to it, drains and stops the live one; each step is printed as it happens. If the new
release fails before the switch, it is removed and the live release keeps serving.

  agentctl deploy web v1.2.0   deploys v1.2.0 of app web and pins web to it
  agentctl deploy web          deploys web's tracked tag now and unpins web (in mode notify:
                               the release polling recorded as available, if any)
  agentctl deploy v1.2.0       with one app configured: deploys v1.2.0 of it and pins it
  agentctl deploy              with one app configured: deploys its tracked tag and unpins it

A single argument is an app when an app has that name, otherwise a version of the only app.
version is a tag (letters, digits, "_", "." and "-"; at most 128; not starting with "." or "-")
or a digest sha256:<64 hex>. Deploying a version pins the app: polling leaves it alone until
"agentctl resume" or a deploy without a version. Exit status 0 when the release is live
(succeeded or unchanged), 1 when the deploy failed or was aborted (the live release keeps
serving), 3 when another deploy of the app runs. A deploy by hand ignores the app's window
and minAge. Ctrl-C stops watching only: the deploy goes
on in the daemon ("agentctl status" shows it).`,
  flags: {},
  maxPositionals: 2,
  async run(args, ctx) {
    checkPositionals(this, args);
    const [first, second] = args.positionals;
    const raw = second !== undefined ? { app: first, version: second } : first !== undefined ? { version: first } : {};
    const req = validateRequest("deploy", DeployRequest, raw, { app: "app", version: "version" });
    return streamDeploy(ctx, "deploy", req, DeployOutcome);
  },
};
