// `agentctl logs`: the output of the app's live release (web's container, or a role's), read from
// the Engine through the daemon, which owns the Engine socket (agentctl never talks to Docker).
import { roleContainerName } from "../config/roles.js";
import type { LogLine } from "../docker/engine.js";
import { AgentError } from "../errors.js";
import { serviceName } from "../labels.js";
import { containerName } from "./plan.js";
import type { DeployDeps } from "./run.js";

export interface LogsRequest {
  app: string;
  role?: string;
  follow?: boolean;
  /** Only lines written in the last `sinceMs`. */
  sinceMs?: number;
  tail?: number;
}

export interface LogsResult {
  app: string;
  container: string;
  lines: number;
}

/** Streams the live container's output to `onLine` until it ends, or until `signal` (the client went away). */
export async function appLogs(deps: DeployDeps, req: LogsRequest, onLine: (l: LogLine) => void, signal?: AbortSignal): Promise<LogsResult> {
  const app = deps.config.apps[req.app]!;
  const live = deps.store.app(req.app).live;
  if (req.role !== undefined && !app.roles[req.role]) {
    const roles = Object.keys(app.roles);
    throw new AgentError("BAD_ARGUMENT", `--role: ${req.app} has no role "${req.role}" (${roles.length ? `roles: ${roles.join(", ")}` : "it has no roles"})`);
  }
  if (app.backend === "swarm") {
    // A service's tasks run on any node; the Engine of a manager gathers their output itself.
    const service = serviceName(req.app, req.role);
    throw new AgentError("BAD_ARGUMENT", `${req.app} runs as Swarm services, whose tasks may run on any node; agentctl logs reads a container app's output only`, {
      hint: `docker service logs ${req.follow ? "--follow " : ""}${service}`,
    });
  }
  if (!live) throw new AgentError("NO_RELEASE", `${req.app} has no live release yet, so there are no logs to show`, { hint: "agentctl status shows what the agent knows of it" });
  const name = req.role !== undefined ? roleContainerName(req.app, req.role, live.slot) : containerName(req.app, live.slot);
  const c = await deps.engine.ownNamed(req.app, name);
  if (!c) {
    throw new AgentError("NO_RELEASE", `the live release's container ${name} of ${req.app} is not on the Engine`, {
      hint: "agentctl status shows the app's containers; the next poll or agentctl deploy recreates it",
    });
  }
  let lines = 0;
  const opts = {
    follow: req.follow === true,
    ...(req.sinceMs !== undefined ? { since: Math.floor((Date.now() - req.sinceMs) / 1000) } : {}),
    ...(req.tail !== undefined ? { tail: req.tail } : {}),
  };
  await deps.engine.logs(req.app, c.id, opts, (l) => {
    lines++;
    onLine(l);
  }, signal);
  return { app: req.app, container: name, lines };
}
