// Reads agent.yaml into a validated Config. Every problem is reported at once, each with its
// key path and, where the YAML parser knows it, the line: `apps.web.health.path: must start with "/" (agent.yaml line 12)`.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { LineCounter, parseDocument, isNode, type Document } from "yaml";
import type { z } from "zod";
import { AgentError } from "../errors.js";
import { Config } from "./schema.js";

export const DEFAULT_CONFIG_PATH = "/etc/deploy-agent/agent.yaml";

export function loadConfig(path: string = DEFAULT_CONFIG_PATH): Config {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AgentError("CONFIG_INVALID", `cannot read config ${path}: ${code ?? String(err)}`, {
      hint: "pass --config with the path of agent.yaml",
      cause: err,
    });
  }
  return parseConfig(text, path);
}

/** Parses YAML text; `source` names the file in messages. */
export function parseConfig(text: string, source = "agent.yaml"): Config {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const file = basename(source);
  if (doc.errors.length > 0) {
    const msgs = doc.errors.map((e) => {
      const line = e.linePos?.[0]?.line;
      const first = (e.message.split("\n")[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, "");
      return `${first}${line ? ` (${file} line ${line})` : ""}`;
    });
    throw new AgentError("CONFIG_INVALID", `${source} is not valid YAML:\n  ${msgs.join("\n  ")}`);
  }
  const raw: unknown = doc.toJS() ?? {};
  const result = Config.safeParse(raw);
  if (!result.success) {
    const msgs = result.error.issues.map((issue) => formatIssue(issue, doc, lines, file));
    throw new AgentError("CONFIG_INVALID", `${source} has ${msgs.length} problem${msgs.length > 1 ? "s" : ""}:\n  ${msgs.join("\n  ")}`, {
      hint: "see the Configuration section of the README for every key",
    });
  }
  return result.data;
}

function formatIssue(issue: z.core.$ZodIssue, doc: Document, lines: LineCounter, file: string): string {
  const path = issue.path.map(String);
  const where = path.length > 0 ? path.join(".") : "(top level)";
  const line = lineOf(doc, lines, issue.path as (string | number)[]);
  let message = issue.message;
  if (issue.code === "unrecognized_keys") {
    message = `unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((k) => `"${k}"`).join(", ")}`;
    const keyLine = lineOf(doc, lines, [...(issue.path as (string | number)[]), issue.keys[0] as string], true);
    return `${where}: ${message}${keyLine ? ` (${file} line ${keyLine})` : line ? ` (${file} line ${line})` : ""}`;
  }
  if (issue.code === "invalid_key") {
    // A bad key of a record (an app name): zod nests the key's own issue.
    message = `bad name: ${issue.issues[0]?.message ?? message}`;
  } else if (issue.code === "invalid_type" && issue.path.length > 0 && !doc.hasIn(issue.path as (string | number)[])) {
    message = `is required (${message.replace(/^Invalid input: /, "").replace(/, received undefined$/, "")})`;
  }
  return `${where}: ${message}${line ? ` (${file} line ${line})` : ""}`;
}

/** The line of the deepest node on `path` that exists in the document (a missing key points at its parent). */
function lineOf(doc: Document, lines: LineCounter, path: (string | number)[], keyOnly = false): number | undefined {
  for (let n = path.length; n >= 0; n--) {
    const sub = path.slice(0, n);
    const node: unknown = sub.length === 0 ? doc.contents : doc.getIn(sub, true);
    if (keyOnly && n < path.length) return undefined;
    if (isNode(node) && node.range) return lines.linePos(node.range[0]).line;
  }
  return undefined;
}
