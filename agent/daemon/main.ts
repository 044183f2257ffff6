#!/usr/bin/env node
// The daemon's entry: arguments, config (schema and files), then the one-daemon locks, and only
// then the Engine and the state file (serve.ts). `--check` validates a config and exits; `schema`
// prints agent.yaml's JSON Schema and exits.
import { configJsonSchema } from "../config/json-schema.js";
import { loadDaemonConfig, DEFAULT_CONFIG_PATH } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { AgentError, toAgentError } from "../errors.js";
import { createLogger, type Logger } from "../log.js";
import { EXIT_NEEDS_OPERATOR, runCheck } from "./check.js";
import { acquireInstanceLock, type InstanceLock } from "./instance-lock.js";
import { createNotifier } from "./sd-notify.js";
import { agentVersion } from "../version.js";

const USAGE = `usage: deploy-agent [--check] [--config PATH]
       deploy-agent schema

Runs the deploy agent: polls the registry for each app in the config and rolls out new
digests behind Traefik with zero downtime: the new release starts beside the live one and
takes over once healthy. Control it with agentctl. One daemon runs per state file and per
control socket; a second one exits at once, naming the first one's pid.

  --config PATH   the agent's config file (default ${DEFAULT_CONFIG_PATH})
  --check         check the config (and the state file, read only) without the Engine,
                  print a summary of the apps, and exit: 0 if the daemon would start, 78 if not
  --version       print the version
  schema          print the JSON Schema of the config file (for editors: install.sh
                  writes it beside the config as agent.schema.json), and exit
  --help          this text`;

function parseArgs(argv: string[]): { configPath: string; check: boolean } | { exit: number; out: string } {
  if (argv[0] === "schema") {
    if (argv.length > 1) return { exit: 2, out: `deploy-agent: schema takes no arguments, got "${argv[1]}"\n${USAGE}` };
    return { exit: 0, out: JSON.stringify(configJsonSchema(), null, 2) };
  }
  let configPath = DEFAULT_CONFIG_PATH;
  let check = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--help" || a === "-h") return { exit: 0, out: USAGE };
    if (a === "--version") return { exit: 0, out: agentVersion() };
    if (a === "--check") {
      check = true;
      continue;
    }
    if (a === "--config" || a.startsWith("--config=")) {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : argv[++i];
      if (!v) return { exit: 2, out: `deploy-agent: --config needs a file path\n${USAGE}` };
      configPath = v;
      continue;
    }
    return { exit: 2, out: `deploy-agent: unknown argument "${a}"\n${USAGE}` };
  }
  return { configPath, check };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if ("exit" in args) {
    (args.exit === 0 ? process.stdout : process.stderr).write(`${args.out}\n`);
    process.exitCode = args.exit;
    return;
  }
  if (args.check) {
    process.exitCode = await runCheck(args.configPath, process.env, { out: (t) => process.stdout.write(`${t}\n`), err: (t) => process.stderr.write(`${t}\n`) });
    return;
  }
  let log: Logger;
  try {
    log = createLogger();
  } catch (err) {
    // A bad LOG_FORMAT is told in the default format, so it still reaches the journal at its priority.
    return fatal(createLogger({ env: { ...process.env, LOG_FORMAT: undefined } }), toAgentError(err, "CONFIG_INVALID"));
  }
  const notifier = createNotifier(process.env, log);
  let config: Config;
  try {
    const loaded = loadDaemonConfig(args.configPath, process.env);
    for (const warning of loaded.warnings) log.warn(warning);
    config = loaded.config;
  } catch (err) {
    return fatal(log, toAgentError(err, "CONFIG_INVALID"));
  }
  const held: InstanceLock[] = [];
  try {
    // Before the Engine and the state file: a second daemon must change nothing on its way out
    // (reconcile would remove a green that the running one is still judging).
    held.push(await acquireInstanceLock("state file", config.state));
    held.push(await acquireInstanceLock("control socket", config.socket));
    const { serve } = await import("./serve.js");
    await serve(config, log, notifier);
  } catch (err) {
    return fatal(log, toAgentError(err));
  } finally {
    for (const lock of held.reverse()) await lock.release();
  }
}

function fatal(log: Logger, err: AgentError): void {
  const needsOperator = err.code === "CONFIG_INVALID" || err.code === "STATE_CORRUPT";
  // Each further line of the message (a config problem, a restore command) is an entry of its own
  // at error priority: `journalctl -p warning` then lists every problem as a person reads them.
  const [headline, ...details] = err.message.split("\n");
  log.fatal({ code: err.code, hint: err.hint }, headline);
  for (const line of details) if (line.trim() !== "") log.error({ code: err.code }, line.trim());
  process.stderr.write(`deploy-agent: ${err.message}${err.hint ? `\n  hint: ${err.hint}` : ""}\n`);
  process.exitCode = needsOperator ? EXIT_NEEDS_OPERATOR : 1;
}

await main();
// Whatever handle a library leaves open must not keep a stopped daemon alive; unref'd, this never delays a clean exit.
setTimeout(() => process.exit(), 3000).unref();
