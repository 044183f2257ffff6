// The schedules: one node-cron task per app, each running one poll at a time.
import { createTask, type ScheduledTask } from "node-cron";
import type { Config } from "../config/schema.js";
import type { Logger } from "../log.js";

export interface Poller {
  start(): void;
  stop(): Promise<void>;
  nextRun(app: string): string | undefined;
}

/** `poll(app)` must not throw; overlapping ticks of one app are skipped (noOverlap). */
export function createPoller(config: Config, poll: (app: string) => Promise<unknown>, log: Logger): Poller {
  const tasks = new Map<string, ScheduledTask>();
  for (const [app, cfg] of Object.entries(config.apps)) {
    const task = createTask(
      cfg.schedule,
      async () => {
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
      for (const t of tasks.values()) await t.destroy();
    },
    nextRun(app) {
      return tasks.get(app)?.getNextRun()?.toISOString();
    },
  };
}
