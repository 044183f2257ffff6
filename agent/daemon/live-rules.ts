// What an event of a live release's container means for the app: the rules LiveWatch runs. Pure.
// An episode starts when the live release stops running or turns unhealthy, and ends when it
// runs healthy again; each episode is said once when it starts and once when it ends, however many
// events (restarts by the app's restart policy, health flapping) come in between.

export type LiveCondition = "exited" | "restarting" | "unhealthy";

/** The live release is not serving: how, since when (ms since the epoch), and its last exit status. */
export interface LiveProblem {
  condition: LiveCondition;
  since: number;
  exitCode?: number;
}

export interface LiveEvent {
  /** "die", "start", or "health_status: <status>". */
  action: string;
  exitCode?: number | undefined;
  at: number;
}

export interface LiveDecision {
  problem: LiveProblem | undefined;
  /** "down": the warning that starts an episode; "back": the line that ends it. */
  say?: "down" | "back";
}

/**
 * One step. `problem` is the app's episode now (undefined: it serves). The episode keeps the time
 * it began; its condition and exit status follow the newest events.
 */
export function liveDecide(problem: LiveProblem | undefined, e: LiveEvent): LiveDecision {
  const since = problem?.since ?? e.at;
  const code = e.exitCode ?? problem?.exitCode;
  const withCode = code !== undefined ? { exitCode: code } : {};
  if (e.action === "die") {
    return { problem: { condition: "exited", since, ...withCode }, ...(problem ? {} : { say: "down" as const }) };
  }
  if (e.action === "start") {
    // Started again (the restart policy, or a person): not serving until its health check passes.
    return problem ? { problem: { condition: "restarting", since, ...withCode } } : { problem };
  }
  const status = e.action.startsWith("health_status") ? e.action.slice(e.action.indexOf(":") + 1).trim() : "";
  if (status === "healthy") return problem ? { problem: undefined, say: "back" } : { problem };
  if (status === "unhealthy") {
    if (problem) return { problem: { ...problem, condition: problem.condition === "exited" ? "exited" : "unhealthy" } };
    return { problem: { condition: "unhealthy", since }, say: "down" };
  }
  return { problem };
}

/** The words of a problem, the same in the journal and in `agentctl status`. */
export function liveProblemWords(p: LiveProblem): string {
  const code = p.exitCode !== undefined ? ` (last exit status ${p.exitCode})` : "";
  switch (p.condition) {
    case "exited":
      return `the live release is not running: it exited${code}`;
    case "restarting":
      return `the live release is restarting and not healthy yet${code}`;
    case "unhealthy":
      return `the live release is unhealthy in Docker, so Traefik does not route to it${code}`;
  }
}
