// The daemon's life once it holds its locks: engine → state → reconcile → control socket →
// schedules, until SIGTERM, which waits for running deploys to reach a safe point.
// main.ts loads this module only after the locks, so a refused second daemon exits quickly.
import { stoppingReason } from "../abort.js";
import { deadline } from "../clock.js";
import type { Config } from "../config/schema.js";
import { startControlServer } from "../control/server.js";
import { reconcileApp } from "../deploy/reconcile.js";
import { DeployLocks, type RunningDeploy } from "../deploy/lock.js";
import { warnAboutRouting } from "../deploy/routing.js";
import { AgentService } from "../deploy/service.js";
import { monitorMs } from "../deploy/service-plan.js";
import { SWARM_PROVIDER_LAG_MS } from "../deploy/backend-move.js";
import { Notifications } from "../notify/notifications.js";
import { connectEngine, type OwnedSwarm } from "../docker/engine.js";
import { AgentError } from "../errors.js";
import type { Logger } from "../log.js";
import { RegistryClient } from "../registry/client.js";
import { StateStore } from "../state/store.js";
import { traefikApi } from "../traefik/api.js";
import { EngineWatch } from "./engine-watch.js";
import { LiveWatch } from "./live-watch.js";
import { PostSwitchWatch } from "./post-switch-watch.js";
import { createPoller } from "./poller.js";
import { reconcileAll } from "./reconcile-all.js";
import { testKillHook } from "./test-kill.js";
import { daemonStats } from "./stats.js";
import type { Notifier } from "./sd-notify.js";
import { agentVersion } from "../version.js";
import { startHttp } from "./http.js";

/** How long SIGTERM waits for running deploys to reach a safe point (below the unit's TimeoutStopSec). */
const SHUTDOWN_GRACE_MS = 100_000;

export async function serve(config: Config, log: Logger, notifier: Notifier): Promise<void> {
  const version = agentVersion();
  const startedAt = new Date().toISOString();
  const engine = await connectEngine(config.docker.socket, { timeoutMs: config.docker.timeout });
  const store = await StateStore.open(config.state, { log, historyLimit: config.history });
  // Counted from the start, so the first poll's requests are in GET /metrics (served by agent/http/).
  // Only with a listener to serve them: prom-client costs about 5 MB of private memory loaded.
  const metrics = config.http.listen ? (await import("../metrics/metrics.js")).createMetrics({ config, store }) : undefined;
  const registry = new RegistryClient({ config, log, platform: engine.platform, ...(metrics ? { onAnswer: metrics.registryAnswered } : {}) });
  const locks = new DeployLocks();
  const shutdown = new AbortController();
  const onBoundary = testKillHook(process.env, log);
  const notify = await Notifications.open(config.notify, { log });
  const swarm = await swarmFor(config, engine.swarmOwnedBy(store));
  const deps = {
    config,
    engine: engine.ownedBy(store),
    swarm,
    registry,
    store,
    locks,
    log,
    traefik: config.traefik.api ? traefikApi(config.traefik.api) : undefined,
    onBoundary,
    notify,
    ...(metrics ? { metrics } : {}),
  };
  log.info(
    { version, engine: engine.serverVersion, api: engine.apiVersion, platform: engine.platform, apps: Object.keys(config.apps), state: config.state },
    "deploy-agent starting",
  );

  const apps = Object.keys(config.apps);
  for (const [i, app] of apps.entries()) {
    // Reconcile may stop the app's blue and green (stopTimeout each) among Engine calls (docker.timeout
    // each): systemd gets that long beyond TimeoutStartSec, one app at a time (see the unit).
    // A deploy found routed but not drained gives blue its settle and drain first, and runs the
    // postdeploy it had not reached.
    const cfg = config.apps[app]!;
    // A Swarm app's update found running is followed to its end: each task in turn its start and monitor, and the nodes' pull.
    const budgetMs =
      cfg.backend === "swarm"
        ? cfg.replicas * (cfg.health.startTimeout + monitorMs(cfg.health)) + 60_000 + SWARM_PROVIDER_LAG_MS + 2 * cfg.stopTimeout + 8 * config.docker.timeout
        : 2 * cfg.stopTimeout + cfg.settle + cfg.drain + (cfg.postdeploy?.timeout ?? 0) + 8 * config.docker.timeout;
    await notifier.extendTimeout(budgetMs, `reconciling ${app} (${i + 1} of ${apps.length})`);
    const report = await reconcileApp(deps, app);
    log.info({ app, serving: report.serving ?? null, actions: report.actions.length }, "reconciled");
  }
  // A deploy without traefik.api "succeeds" even with no Traefik to serve it: say so, never refuse.
  await warnAboutRouting(deps);

  let poller: ReturnType<typeof createPoller> | undefined;
  const liveWatch = new LiveWatch({
    engine: deps.engine,
    // Swarm restarts a service's tasks itself, and says so in `status` (its tasks).
    live: (app) => (config.apps[app]?.backend === "swarm" ? undefined : store.app(app).live),
    roles: (app) => Object.entries(config.apps[app]?.roles ?? {}).map(([role, r]) => ({ role, checked: r.health !== undefined })),
    log,
  });
  const liveProblem = (app: string, role?: string) => {
    const p = liveWatch.problem(app, role);
    return p ? { condition: p.condition, since: new Date(p.since).toISOString(), ...(p.exitCode !== undefined ? { exitCode: p.exitCode } : {}), words: liveWatch.words(app, p, role) } : undefined;
  };
  // The gates' timers poll as the schedules do, so they too wait while the Engine is away (`poll` below).
  const service = new AgentService(deps, {
    version,
    startedAt,
    shutdown: shutdown.signal,
    nextPoll: (app) => poller?.nextRun(app),
    daemonStats,
    liveProblem,
    timerPoll: (app) => poll(app),
  });
  // After reconcile, so /healthz never says ready for a daemon still settling its apps; before the
  // watches start, so a port in use ends the start with nothing else running.
  const http = await startHttp(config, { service, shutdown: shutdown.signal, log, ...(metrics ? { metrics: metrics.source } : {}) });
  const watch = new EngineWatch({
    ping: () => deps.engine.ping(),
    watch: (onEnd) => deps.engine.watchEngine(onEnd),
    reconcileAll: () => reconcileAll(deps, shutdown.signal),
    log,
    socketPath: engine.socketPath,
  });
  // Neither watch holds start-up: an Engine that answers calls but holds its event streams would
  // keep the daemon from being ready for docker.timeout.
  void watch.start();
  void liveWatch.start();
  const switchWatch = new PostSwitchWatch(deps);
  switchWatch.start();
  // While the Engine is gone a poll would only fail; it waits instead, and a deploy that finds the
  // Engine gone makes the watch look (a hung dockerd keeps its event stream open).
  const poll = async (app: string): Promise<void> => {
    if (!watch.available) return log.debug({ app }, "poll skipped: the Docker Engine is not answering");
    const result = await service.poll(app);
    if (result.deploy?.error?.code === "ENGINE_UNAVAILABLE") await watch.suspect(result.deploy.error.message);
  };
  poller = createPoller(config, poll, log);
  const server = await startControlServer({ socketPath: config.socket, api: service, log });
  poller.start();
  notifier.ready(`watching ${Object.keys(config.apps).length} app(s)`);
  const stopWatchdog = notifier.startWatchdog();
  log.info({ socket: config.socket }, "deploy-agent ready");

  // A first poll at start, as the schedules would: a fresh host gets its apps without waiting a period.
  void Promise.all(Object.keys(config.apps).map((app) => poll(app)));

  await new Promise<void>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      log.info({ signal: sig, running: locks.size }, "stopping: running deploys finish or undo at their next safe point");
      // Said at once, so a person whose `systemctl restart` seems to hang reads in the journal why.
      for (const app of Object.keys(config.apps)) {
        const running = locks.current(app);
        if (running) log.warn({ app, deployId: running.deployId, step: running.step }, shutdownWaitLine(app, running, SHUTDOWN_GRACE_MS));
      }
      notifier.stopping();
      shutdown.abort(stoppingReason(sig));
      resolve();
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });

  await poller.stop();
  await watch.stop();
  liveWatch.stop();
  switchWatch.stop();
  const until = deadline(SHUTDOWN_GRACE_MS);
  while (locks.size > 0 && !until.passed()) await new Promise((r) => setTimeout(r, 100));
  if (locks.size > 0) log.error({ running: locks.size }, "deploys still running at shutdown; reconcile settles them at the next start");
  stopWatchdog();
  await notify.close();
  await server.close();
  await http?.close();
  await registry.close();
  await store.close();
  log.info("deploy-agent stopped");
}

/**
 * The Swarm, when an app has `backend: swarm`: only a Swarm manager creates and updates services,
 * so on any other Engine the daemon refuses to start, naming the apps and the fix (exit 78, as for a
 * bad config: restarting cannot mend it). With no such app, the Swarm of a manager all the same,
 * so that an app moved back to containers has its services removed (deploy/backend-move.ts).
 */
async function swarmFor(config: Config, swarm: OwnedSwarm): Promise<OwnedSwarm | undefined> {
  const apps = Object.entries(config.apps)
    .filter(([, app]) => app.backend === "swarm")
    .map(([name]) => name);
  if (apps.length === 0) return (await swarm.swarmRole().catch(() => undefined)) === "manager" ? swarm : undefined;
  const refused = await swarm.notManager(apps);
  if (refused) throw new AgentError("CONFIG_INVALID", refused.message, { hint: refused.hint });
  return swarm;
}

/**
 * What the shutdown waits for: before green is routed a deploy stops at its next step and the live
 * release keeps serving; from confirm on green serves, so the deploy runs to the end.
 */
export function shutdownWaitLine(app: string, running: Readonly<RunningDeploy>, graceMs: number): string {
  const which = running.deployId === "-" ? `the deploy of ${app}` : `deploy ${running.deployId} of ${app}`;
  const upTo = `up to ${Math.round(graceMs / 1000)} s`;
  if (running.step === "confirm" || running.step === "drain" || running.step === "stop" || running.step === "record") {
    return `waiting for ${which} to finish its ${running.step}, ${upTo}`;
  }
  return `waiting for ${which} to stop at its next safe point (it is in step ${running.step}), ${upTo}; the live release keeps serving`;
}
