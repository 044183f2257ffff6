// `agentctl deploy [app] [version]`: deploy a version (pinning the app) or the tracked tag, streaming each step.
import { DeployOutcome, DeployRequest } from "../../control/protocol.js";
import { checkPositionals, streamDeploy, validateRequest, type Command } from "../command.js";

export const deployCommand: Command = {
  verb: "deploy",
  usage: "deploy [app] [version]",
  summary: "deploy a version (and pin the app to it), or the tracked tag",
  help: `Deploys a release blue-green and prints each step as it happens.

  agentctl deploy web v1.2.0   deploys v1.2.0 of app web and pins web to it
  agentctl deploy v1.2.0       one argument is sent to the daemon as the version only; the
                               daemon decides whether it names an app (then that app's tracked
                               tag is deployed) or a version of the only configured app
  agentctl deploy web          (same rule: "web" is sent as the version; the daemon decides)
  agentctl deploy              deploys the tracked tag of the only configured app

version is a tag (letters, digits, "_", "." and "-"; at most 128; not starting with "." or "-")
or a digest sha256:<64 hex>. Deploying a version pins the app: polling leaves it alone until
"agentctl resume". Exit status 0 when the release is live (succeeded or unchanged), 1 when the
deploy failed or was aborted (the previous release keeps serving), 3 when another deploy runs.
Ctrl-C stops watching only: the deploy goes on in the daemon ("agentctl status" shows it).`,
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
