// Wraps an AgentApi (the control socket's contract, not a Docker mock) so a test sees every call.
import type { AgentApi } from "../../agent/control/api.js";

export function recordCalls(api: AgentApi, calls: { verb: string; req: unknown }[]): AgentApi {
  return Object.fromEntries(
    Object.entries(api).map(([verb, fn]) => [
      verb,
      (req: unknown, ...rest: unknown[]) => {
        calls.push({ verb, req });
        return (fn as (...a: unknown[]) => unknown)(req, ...rest);
      },
    ]),
  ) as unknown as AgentApi;
}
