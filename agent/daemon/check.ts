// `deploy-agent --check --config FILE`: everything the daemon checks at start that needs no Engine,
// then one screen about the apps. It never connects to Docker, never opens the control socket,
// never takes the daemon's lock and never writes a file, so it is safe beside a running daemon.
import { checkConfigFile } from "../config/load.js";
import type { Config } from "../config/schema.js";
import { formatDurationMs } from "../config/duration.js";
import { toAgentError } from "../errors.js";
import { stripControls } from "../text.js";
import { lockHolder } from "./instance-lock.js";
import { checkStateFile } from "./state-check.js";

/** The daemon's exit status for what a person must fix (systemd's RestartPreventExitStatus). */
export const EXIT_NEEDS_OPERATOR = 78;

export interface CheckOutput {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** Runs the check and returns the exit status: 0 when the daemon would start on this config, else 78. */
export async function runCheck(configPath: string, env: NodeJS.ProcessEnv, io: CheckOutput): Promise<number> {
  let checked: ReturnType<typeof checkConfigFile>;
  try {
    checked = checkConfigFile(configPath, { env, mode: "check" });
  } catch (err) {
    const e = toAgentError(err, "CONFIG_INVALID");
    io.err(`deploy-agent: ${e.message}${e.hint ? `\n  hint: ${e.hint}` : ""}`);
    return EXIT_NEEDS_OPERATOR;
  }
  const errors = [...checked.errors];
  const warnings = [...checked.warnings];
  const state = checked.statePath !== undefined ? checkStateFile(checked.statePath) : undefined;
  if (state?.problem) errors.push(`state: ${state.problem}`);
  if (state?.warning) warnings.push(state.warning);
  const warningText = warnings.length > 0 ? `\nwarnings:\n  ${warnings.map(stripControls).join("\n  ")}` : "";

  if (errors.length > 0 || checked.config === undefined) {
    const n = errors.length;
    io.err(`deploy-agent: ${configPath} has ${n} problem${n === 1 ? "" : "s"}:\n  ${errors.map(stripControls).join("\n  ")}${warningText}`);
    return EXIT_NEEDS_OPERATOR;
  }
  const config = checked.config;
  const [stateHolder, socketHolder] = await Promise.all([lockHolder("state file", config.state), lockHolder("control socket", config.socket)]);
  const running = stateHolder ?? socketHolder;
  const lines = [
    `${configPath} is valid: ${Object.keys(config.apps).length} app${Object.keys(config.apps).length === 1 ? "" : "s"}, nothing contacted or written`,
    `  state    ${config.state} (${state?.summary ?? "not checked"})`,
    `  socket   ${config.socket}`,
    `  docker   ${config.docker.socket} (not contacted; every call times out after ${formatDurationMs(config.docker.timeout)})`,
    `  traefik  ${config.traefik.api ? withoutPassword(config.traefik.api) : "no API: each switch waits the app's settle"}`,
    `  daemon   ${running === undefined ? "not running on this state file or socket" : `running on this config's files (pid ${running})`}`,
    "",
    ...appTable(config, state?.live ?? {}),
  ];
  io.out(lines.map(stripControls).join("\n") + warningText);
  return 0;
}

function appTable(config: Config, live: Record<string, string>): string[] {
  const rows = [["APP", "IMAGE:TRACK", "RUNS AS", "SCHEDULE", "PORT", "ROUTE", "HEALTH", "LIVE"]];
  for (const [name, app] of Object.entries(config.apps)) {
    const route = app.route ? `${app.route.rule} on ${app.route.network}` : "no route";
    // A Swarm app needs this Engine to be a Swarm manager, which --check does not ask it.
    const runsAs = app.backend === "swarm" ? `swarm service, ${app.replicas} task${app.replicas === 1 ? "" : "s"}` : "containers";
    rows.push([name, `${app.image}:${app.track}`, runsAs, app.schedule, String(app.port), route, app.health.command ? `${app.health.path} (own command)` : app.health.path, live[name] ?? "-"]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join("  "));
}

/** The API's address without userinfo: the summary may be pasted into a ticket. */
function withoutPassword(url: string): string {
  const u = new URL(url);
  u.username = "";
  u.password = "";
  return u.toString();
}
