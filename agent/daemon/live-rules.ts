// What an event of a live release's container means for it: the rules LiveWatch runs. Pure.
// An episode starts when a container of the live release (web's, or a role's) stops running or
// turns unhealthy, and ends when it runs healthy again; each episode is said once when it starts
// and once when it ends, however many events (restarts by the app's restart policy, health
// flapping) come in between.
import { ROLE_RUNNING_MS } from "../config/roles.js";

export type LiveCondition = "exited" | "restarting" | "unhealthy";

/** A live container is not serving: how, since when (ms since the epoch), and its last exit status. */
export interface LiveProblem {
  condition: LiveCondition;
  since: number;
  exitCode?: number;
}

export interface LiveEvent {
  /** "die", "start", "health_status: <status>", or RAN_LONG_ENOUGH. */
  action: string;
  exitCode?: number | undefined;
  at: number;
}

/**
 * Not the Engine's: the watch feeds it when a container without a health check has run
 * `recheckInMs` since its last start with no other event in between.
 */
export const RAN_LONG_ENOUGH = "ran long enough";

export interface LiveDecision {
  problem: LiveProblem | undefined;
  /** "down": the warning that starts an episode; "back": the line that ends it. */
  say?: "down" | "back";
  /** Feed RAN_LONG_ENOUGH after this long unless another event of the container comes first. */
  recheckInMs?: number;
}

/**
 * One step. `problem` is the container's episode now (undefined: it serves). The episode keeps the
 * time it began; its condition and exit status follow the newest events. `checked`: the container
 * has a Docker health check (web's always has; a role's only with `health.command`). One without
 * gets no health_status events, so it is back once it has run as long as a deploy asks of it
 * (ROLE_RUNNING_MS) since its last start: a restart policy that restarts a crashing worker every
 * few seconds keeps one episode rather than saying down and back at every restart.
 */
export function liveDecide(problem: LiveProblem | undefined, e: LiveEvent, checked = true): LiveDecision {
  const since = problem?.since ?? e.at;
  const code = e.exitCode ?? problem?.exitCode;
  const withCode = code !== undefined ? { exitCode: code } : {};
  if (e.action === "die") {
    return { problem: { condition: "exited", since, ...withCode }, ...(problem ? {} : { say: "down" as const }) };
  }
  if (e.action === "start") {
    // Started again (the restart policy, or a person): not serving until its health check passes,
    // or, without one, until it has kept running.
    if (!problem) return { problem };
    return { problem: { condition: "restarting", since, ...withCode }, ...(checked ? {} : { recheckInMs: ROLE_RUNNING_MS }) };
  }
  if (e.action === RAN_LONG_ENOUGH) {
    return problem && !checked && problem.condition === "restarting" ? { problem: undefined, say: "back" } : { problem };
  }
  const status = e.action.startsWith("health_status") ? e.action.slice(e.action.indexOf(":") + 1).trim() : "";
  if (status === "healthy") return problem ? { problem: undefined, say: "back" } : { problem };
  if (status === "unhealthy") {
    if (problem) return { problem: { ...problem, condition: problem.condition === "exited" ? "exited" : "unhealthy" } };
    return { problem: { condition: "unhealthy", since }, say: "down" };
  }
  return { problem };
}

/** The subject of the words: web's container is "the live release", a role's "the live release's worker". */
function subject(role: string | undefined): string {
  return role === undefined ? "the live release" : `the live release's ${role}`;
}

/** The words of a problem, the same in the journal and in `agentctl status`; `role` for a role's container. */
export function liveProblemWords(p: LiveProblem, role?: string, checked = true): string {
  const code = p.exitCode !== undefined ? ` (last exit status ${p.exitCode})` : "";
  const who = subject(role);
  switch (p.condition) {
    case "exited":
      return `${who} is not running: it exited${code}`;
    case "restarting":
      return checked ? `${who} is restarting and not healthy yet${code}` : `${who} is restarting and has not run ${ROLE_RUNNING_MS / 1000} s yet${code}`;
    case "unhealthy":
      return role === undefined ? `${who} is unhealthy in Docker, so Traefik does not route to it${code}` : `${who} is unhealthy in Docker: its health check fails${code}`;
  }
}

/** The line that ends an episode. */
export function liveBackWords(role?: string, checked = true): string {
  return checked ? `${subject(role)} runs healthy again` : `${subject(role)} runs again (${ROLE_RUNNING_MS / 1000} s without exiting)`;
}
