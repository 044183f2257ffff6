// agent.yaml texts and their problems, for the unit tests of the config.
import { parseConfig } from "../../agent/config/load.js";
import { isAgentError } from "../../agent/errors.js";

/** One app `web` with the keys every app needs, then `extra` (its own further keys, indented by four). */
export const appYaml = (extra: string): string => `apps:
  web:
    image: ghcr.io/acme/web
    port: 8000
    health: { path: /health }
${extra}`;

/** The CONFIG_INVALID message for `yaml`; fails the test when the config is accepted. */
export function configProblems(yaml: string): string {
  try {
    parseConfig(yaml, "/etc/deploy-agent/agent.yaml");
  } catch (err) {
    if (isAgentError(err, "CONFIG_INVALID")) return err.message;
    throw err;
  }
  throw new Error("config was accepted");
}
