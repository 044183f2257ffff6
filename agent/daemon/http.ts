// The daemon's side of the opt-in HTTP listener: off unless http.listen is set; a hook runs the
// same check as `agentctl check <app>`.
import type { Config } from "../config/schema.js";
import { parseListen } from "../config/listen.js";
import { readSigningKey } from "../config/secret-file.js";
import type { AgentService } from "../deploy/service.js";
import { startHttpListener, type HttpListener, type MetricsSource } from "../http/server.js";
import type { Logger } from "../log.js";

export interface HttpDeps {
  service: Pick<AgentService, "check">;
  shutdown: AbortSignal;
  log: Logger;
  metrics?: MetricsSource;
}

export async function startHttp(config: Config, deps: HttpDeps): Promise<HttpListener | undefined> {
  const { listen, hookSecretFile } = config.http;
  if (listen === undefined) return undefined;
  const address = parseListen(listen);
  // The schema refused anything else; this keeps the types honest.
  if ("problem" in address) throw new Error(`http.listen: ${address.problem}`);
  const { log } = deps;
  return startHttpListener({
    listen: address,
    hookSecret: hookSecretFile === undefined ? undefined : await readSigningKey(hookSecretFile, "http.hookSecretFile"),
    isApp: (app) => Object.hasOwn(config.apps, app),
    check: (app) => {
      deps.service.check({ app }).then(
        (results) => log.debug({ app, outcome: results[0]?.deploy?.outcome ?? "no deploy" }, "hook's check done"),
        (err: unknown) => log.warn({ app, err }, "hook's check failed"),
      );
    },
    ready: () => !deps.shutdown.aborted,
    metrics: deps.metrics,
    log,
  });
}
