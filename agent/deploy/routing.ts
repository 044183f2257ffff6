// Whether a routed app can be served: a deploy without `traefik.api` "succeeds" even when no Traefik
// shares the route's network, and the app is then reachable only by container IP. So the agent says
// so, at start and in `status`: a warning, never a refusal (the heuristic may be wrong, and Traefik
// may be started after the agent).
import type { AppRouting } from "../control/api.js";
import type { Config } from "../config/schema.js";
import type { OwnedEngine } from "../docker/engine.js";
import { toAgentError } from "../errors.js";
import type { Logger } from "../log.js";

/**
 * What status and the start warnings know of one routed app's network. Never throws: an Engine
 * that does not answer (or refuses) the look leaves the network unknown, said in `lookError`, and
 * the rest (whether switches are confirmed) still holds.
 */
export async function appRouting(engine: OwnedEngine, config: Config, app: string, timeoutMs?: number): Promise<AppRouting | undefined> {
  const cfg = config.apps[app];
  if (!cfg?.route) return undefined;
  const known = { network: cfg.route.network, confirmed: config.traefik.api !== undefined, settleMs: cfg.settle };
  try {
    const peers = await engine.traefikOnNetwork(cfg.route.network, timeoutMs);
    return { ...known, networkExists: peers.exists, traefik: peers.traefik };
  } catch (err) {
    return { ...known, lookError: toAgentError(err).message };
  }
}

/** The words of the warnings, one per problem, the same in the journal and in `agentctl status`. */
export function routingWarnings(r: AppRouting): string[] {
  const out: string[] = [];
  if (r.lookError !== undefined || r.networkExists === undefined || r.traefik === undefined) {
    // Not "no Traefik": nothing is known, and the warning must not send a person to start a second one.
    out.push(`could not look for Traefik on network ${r.network}, so whether the route is served is unknown (${r.lookError ?? "no answer"}); each agentctl status looks again`);
  } else if (!r.networkExists) {
    out.push(`Traefik is not on network ${r.network} yet (the agent creates the network at the first deploy): the route is not served; start Traefik with the example in examples/traefik`);
  } else if (r.traefik.length === 0) {
    out.push(`no Traefik on network ${r.network}: the route is not served, the app is reachable only by container IP (start Traefik: examples/traefik)`);
  }
  if (!r.confirmed) out.push(notConfirmedWords(r.settleMs));
  return out;
}

function notConfirmedWords(settleMs: number): string {
  return `traefik.api is not set: switches are not confirmed, the agent waits settle (${settleMs / 1000}s)`;
}

/** Each Engine call of the look at start: short, so a slow Engine delays readiness by seconds, not minutes. */
const START_LOOK_TIMEOUT_MS = 2000;

/**
 * At start: one warning per routed app with no Traefik on its network (or whose network the Engine
 * would not show), and one (once) when `traefik.api` is not set while some app has a route. The
 * apps are looked at all at once, so an Engine that does not answer costs one short deadline, not
 * one per app; the start goes on either way, and the first poll reports what is wrong.
 */
export async function warnAboutRouting(deps: { engine: OwnedEngine; config: Config; log: Logger }): Promise<void> {
  const timeoutMs = Math.min(START_LOOK_TIMEOUT_MS, deps.config.docker.timeout);
  const routed = Object.keys(deps.config.apps).filter((app) => deps.config.apps[app]!.route);
  const seen = await Promise.all(routed.map((app) => appRouting(deps.engine, deps.config, app, timeoutMs)));
  for (const [i, r] of seen.entries()) {
    const [network] = r ? routingWarnings({ ...r, confirmed: true }) : [];
    if (network) deps.log.warn({ app: routed[i], network: r!.network }, network);
  }
  if (routed.length > 0 && deps.config.traefik.api === undefined) {
    const settles = [...new Set(routed.map((app) => deps.config.apps[app]!.settle))];
    deps.log.warn({ apps: routed }, settles.length === 1 ? notConfirmedWords(settles[0]!) : "traefik.api is not set: switches are not confirmed, the agent waits each app's settle");
  }
}
