// The schedules: one node-cron task per app. Each tick waits a random delay (jitter, at most a
// quarter of the app's period) so that apps on the same schedule do not hit the registry at once.
import { createTask, type ScheduledTask } from "node-cron";
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";

export interface Poller {
  start(): void;
  stop(): Promise<void>;
  nextRun(app: string): string | undefined;
}

/** The delay before a tick's poll: uniform in [0, min(jitter, period / 4)). */
export function jitterMs(jitter: number, periodMs: number, random: () => number = Math.random): number {
  const cap = Math.min(jitter, Math.max(0, periodMs / 4));
  return Math.floor(random() * cap);
}

/** `poll(app)` must not throw; overlapping ticks of one app are skipped (noOverlap). */
export function createPoller(config: Config, poll: (app: string) => Promise<unknown>, log: Logger): Poller {
  const tasks = new Map<string, ScheduledTask>();
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  for (const [app, cfg] of Object.entries(config.apps)) {
    const task = createTask(
      cfg.schedule,
      async () => {
        const [a, b] = task.getNextRuns(2);
        const period = a && b ? b.getTime() - a.getTime() : 60_000;
        await new Promise<void>((resolve) => {
          const t = setTimeout(() => {
            timers.delete(t);
            resolve();
          }, jitterMs(config.poll.jitter, period));
          timers.add(t);
        });
        if (stopped) return;
        try {
          await poll(app);
        } catch (err) {
          log.error({ app, err: (err as Error).message }, "poll crashed");
        }
      },
      { name: `poll-${app}`, noOverlap: true },
    );
    tasks.set(app, task);
  }
  return {
    start() {
      for (const t of tasks.values()) void t.start();
    },
    async stop() {
      stopped = true;
      for (const t of timers) clearTimeout(t);
      for (const t of tasks.values()) await t.destroy();
    },
    nextRun(app) {
      return tasks.get(app)?.getNextRun()?.toISOString();
    },
  };
}
