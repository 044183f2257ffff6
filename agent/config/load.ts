// Reads agent.yaml into a validated Config. Every problem is reported at once, each with its
// key path and, where the YAML parser knows it, the line: `apps.web.health.path: must start with "/" (agent.yaml line 12)`.
// The schema's problems, what each app's backend forbids (config/swarm.ts) and the file system's
// (config/files.ts) come in one list.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { LineCounter, parseDocument, isNode, type Document } from "yaml";
import type { z } from "zod";
import { AgentError } from "../errors.js";
import { checkConfigFiles, type FileCheckOptions } from "./files.js";
import { Config, DEFAULT_STATE_PATH } from "./schema.js";
import { backendProblems } from "./swarm.js";

export const DEFAULT_CONFIG_PATH = "/etc/deploy-agent/agent.yaml";

/** Reads agent.yaml and checks it against the schema only (agentctl reads its `socket` key this way). */
export function loadConfig(path: string = DEFAULT_CONFIG_PATH): Config {
  return parseConfig(readConfigText(path), path);
}

/** Parses YAML text against the schema and the rules of each app's backend; `source` names the file in messages. */
export function parseConfig(text: string, source = "agent.yaml"): Config {
  const checked = checkConfigText(text, source);
  if (checked.config === undefined || checked.errors.length > 0) throw invalid(source, checked.errors);
  return checked.config;
}

export interface ConfigCheck {
  /** Set when the schema accepted the file (file problems may still be listed in `errors`). */
  config?: Config;
  /** The state file the daemon would open, known even when other keys are wrong. */
  statePath?: string;
  /** Every problem, each `key.path: what (agent.yaml line N)`. */
  errors: string[];
  warnings: string[];
}

/**
 * Reads agent.yaml and checks everything that can be checked without the Engine: the schema and,
 * with `files`, the file system (config/files.ts). Problems are returned, all of them, not thrown;
 * only an unreadable file or bad YAML throws.
 */
export function checkConfigFile(path: string, files?: FileCheckOptions): ConfigCheck {
  return checkConfigText(readConfigText(path), path, files);
}

/** What the daemon runs at start: the whole check, as one CONFIG_INVALID error listing every problem. */
export function loadDaemonConfig(path: string, env: NodeJS.ProcessEnv): { config: Config; warnings: string[] } {
  const checked = checkConfigFile(path, { env, mode: "daemon" });
  if (checked.config === undefined || checked.errors.length > 0) throw invalid(path, checked.errors);
  return { config: checked.config, warnings: checked.warnings };
}

export function checkConfigText(text: string, source: string, files?: FileCheckOptions): ConfigCheck {
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
  const errors = result.success ? [] : result.error.issues.map((issue) => formatIssue(issue, doc, lines, file));
  const warnings: string[] = [];
  for (const p of [...backendProblems(raw), ...(files ? checkConfigFiles(raw, files) : [])]) {
    const line = lineOf(doc, lines, p.path);
    (p.severity === "error" ? errors : warnings).push(`${p.path.join(".")}: ${p.message}${line ? ` (${file} line ${line})` : ""}`);
  }
  if (result.success) return { config: result.data, statePath: result.data.state, errors, warnings };
  const state = (raw as { state?: unknown } | null)?.state;
  return { statePath: state === undefined ? DEFAULT_STATE_PATH : typeof state === "string" && state !== "" ? state : undefined, errors, warnings };
}

function readConfigText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new AgentError("CONFIG_INVALID", `cannot read config ${path}: ${code ?? String(err)}`, {
      hint: `pass --config with the path of agent.yaml (the installed config is ${DEFAULT_CONFIG_PATH}); ${CONFIG_REFERENCE}`,
      cause: err,
    });
  }
}

/** Where the installed config and its reference are (install.sh puts the README in /opt/deploy-agent). */
const CONFIG_REFERENCE = 'the "Configuration" section of /opt/deploy-agent/README.md lists every key';

function configHint(source: string): string {
  const where = source === DEFAULT_CONFIG_PATH ? source : `${source} (the installed config is ${DEFAULT_CONFIG_PATH})`;
  return `fix ${where}, then check it with deploy-agent --check --config ${source}; ${CONFIG_REFERENCE}`;
}

function invalid(source: string, msgs: string[]): AgentError {
  return new AgentError("CONFIG_INVALID", `${source} has ${msgs.length} problem${msgs.length > 1 ? "s" : ""}:\n  ${msgs.join("\n  ")}`, {
    hint: configHint(source),
  });
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
