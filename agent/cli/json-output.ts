// What `agentctl <verb> --json` prints on stdout, one zod schema per verb, and the JSON Schemas of
// those documents that docs/json/ holds (`npm run schemas` rewrites them; test/unit/json-output.test.ts
// fails while the committed files differ, so a change of shape changes docs/ in the same commit).
import { z } from "zod";
import { ERROR_CODES } from "../errors.js";
import { LogLine, RESULT_SCHEMAS, type Verb } from "../control/protocol.js";

/** Where the committed schemas live, relative to the repository. */
export const JSON_SCHEMA_DIR = "docs/json";

/**
 * The document of each verb: the daemon's result as the client parsed it (control/protocol.ts), so
 * keys a newer daemon adds are not printed. Keyed by Verb, so a new verb does not build without one.
 */
const VERB_OUTPUTS = {
  status: RESULT_SCHEMAS.status,
  history: RESULT_SCHEMAS.history,
  deploy: RESULT_SCHEMAS.deploy,
  rollback: RESULT_SCHEMAS.rollback,
  check: RESULT_SCHEMAS.check,
  resume: RESULT_SCHEMAS.resume,
  notify: RESULT_SCHEMAS.notify,
  // Not one document but one per line of output (cli/output.ts logLine): the schema of each line.
  logs: LogLine.strict(),
} as const satisfies Record<Verb, z.ZodType>;

/** What every command prints instead when it fails before a result (cli/agentctl.ts `main`): AgentError.toJSON(). */
const ErrorOutput = z
  .object({ error: z.object({ code: z.enum(ERROR_CODES), message: z.string(), hint: z.string().optional() }).strict() })
  .strict();

/** `agentctl --version --json`. */
const VersionOutput = z.object({ version: z.string() }).strict();

export interface JsonOutput {
  /** The file under docs/json/. */
  file: string;
  /** The command line that prints it. */
  command: string;
  schema: z.ZodType;
}

const USAGE: Record<Verb, string> = {
  status: "agentctl status [app] --json",
  history: "agentctl history [app] [--limit N] --json",
  deploy: "agentctl deploy [app] [version] --json",
  rollback: "agentctl rollback [app] [--to version|digest] --json",
  check: "agentctl check [app] --json",
  resume: "agentctl resume [app] --json",
  notify: "agentctl notify test --json",
  logs: "agentctl logs [app] [--role R] [-f] [--since D] [--tail N] --json (one such document per line of output)",
};

/** Every --json document agentctl prints, by the file that describes it. */
export const JSON_OUTPUTS: readonly JsonOutput[] = [
  ...(Object.keys(VERB_OUTPUTS) as Verb[]).map((verb) => ({
    file: `agentctl-${verb === "notify" ? "notify-test" : verb}.schema.json`,
    command: USAGE[verb],
    schema: VERB_OUTPUTS[verb],
  })),
  { file: "agentctl-error.schema.json", command: "agentctl <verb> --json, when it ends without a result (a bad argument, no daemon, an error the daemon answers)", schema: ErrorOutput },
  { file: "agentctl-version.schema.json", command: "agentctl --version --json", schema: VersionOutput },
];

/** The JSON Schema (draft 2020-12) of one document, titled with the command that prints it. */
export function jsonOutputSchema(output: JsonOutput): Record<string, unknown> {
  const schema = z.toJSONSchema(output.schema, { io: "output", unrepresentable: "throw" });
  return { ...schema, title: output.command, description: `What \`${output.command}\` prints on stdout. Generated from agent/cli/json-output.ts by npm run schemas.` };
}

/** The committed text of each file: what `npm run schemas` writes. */
export function jsonSchemaFiles(): Map<string, string> {
  return new Map(JSON_OUTPUTS.map((o) => [o.file, `${JSON.stringify(jsonOutputSchema(o), null, 2)}\n`]));
}
