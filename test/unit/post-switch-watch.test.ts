// The watch after the switch, on an Engine the test drives (the agent's own Engine interface, not
// dockerode): a failed health check of the new release starts the kept release in reserve, and
// the reserve is stopped again once the new release passes again. The rollback itself, on the
// real Engine, is in test/stories/watch-rollback.test.ts.
import { afterEach, describe, expect, it, vi } from "vitest";
import { parseConfig } from "../../agent/config/load.js";
import { PostSwitchWatch } from "../../agent/daemon/post-switch-watch.js";
import { DeployLocks } from "../../agent/deploy/lock.js";
import type { DeployDeps } from "../../agent/deploy/run.js";
import type { ContainerDetail, OwnContainerEvent } from "../../agent/docker/engine.js";
import { silentLogger } from "../../agent/log.js";
import type { Watch } from "../../agent/state/schema.js";

const DIGEST = `sha256:${"1".repeat(64)}`;
const GREEN = "g".repeat(64);
const BLUE = "b".repeat(64);

const watch: Watch = {
  deployId: "7",
  until: new Date(Date.now() + 3_600_000).toISOString(),
  greenId: GREEN,
  blue: { id: BLUE, name: "web-blue", slot: "blue", generation: 6, deployId: "6", version: "v1", digest: DIGEST, imageId: "sha256:i" },
};

function setup() {
  let onEvent: ((e: OwnContainerEvent) => void) | undefined;
  const green = { running: true, health: "healthy", failingStreak: 0 };
  const calls: string[] = [];
  const looked = { green: 0 };
  const engine = {
    async watchOwnContainers(ev: (e: OwnContainerEvent) => void, _end: (why: string) => void, opts?: { healthChecks?: boolean }) {
      if (!opts?.healthChecks) throw new Error("the watch must ask for health-check events");
      onEvent = ev;
      return { close: () => undefined };
    },
    async checkRunning() {
      return "running";
    },
    async inspect(id: string) {
      if (id === GREEN) looked.green++;
      return (id === GREEN ? { id, name: "web-green", restarting: false, restartCount: 0, exitCode: 0, ...green } : undefined) as ContainerDetail | undefined;
    },
    async start(_app: string, id: string) {
      calls.push(`start ${id === BLUE ? "blue" : id}`);
      return {} as ContainerDetail;
    },
    async stop(_app: string, id: string) {
      calls.push(`stop ${id === BLUE ? "blue" : id}`);
    },
  };
  const config = parseConfig("apps:\n  web:\n    image: ghcr.io/acme/web\n    port: 8000\n    health: { path: /health }\n    watch: 1h\n");
  const deps = { config, engine, store: { app: () => ({ watch }) }, locks: new DeployLocks(), log: silentLogger() } as unknown as DeployDeps;
  const w = new PostSwitchWatch(deps);
  const emit = (action: string, exitCode?: number) => onEvent?.({ id: GREEN, action, app: "web", name: "web-green", deployId: "7", exitCode, at: Date.now() });
  return { w, green, calls, looked, emit, opened: () => onEvent !== undefined };
}

let running: PostSwitchWatch | undefined;
afterEach(() => {
  running?.stop();
  running = undefined;
});

describe("the reserve during the watch after the switch", () => {
  it("starts the kept release once on failed health checks of the new release", async () => {
    const t = setup();
    running = t.w;
    t.w.start();
    await vi.waitFor(() => expect(t.opened()).toBe(true));
    t.emit("exec_die", 1);
    t.emit("exec_die", 1);
    await vi.waitFor(() => expect(t.calls).toContain("start blue"));
    expect(t.calls).toEqual(["start blue"]);
  });

  it("stops the reserve again once the new release is healthy with no failed check since, and not while it still fails", async () => {
    const t = setup();
    running = t.w;
    t.w.start();
    await vi.waitFor(() => expect(t.opened()).toBe(true));
    t.green.failingStreak = 1;
    t.emit("exec_die", 1);
    await vi.waitFor(() => expect(t.calls).toEqual(["start blue"]));
    // Still failing: the check an event of the new release makes looks at it and leaves the reserve running.
    const before = t.looked.green;
    t.emit("health_status: healthy");
    await vi.waitFor(() => expect(t.looked.green).toBeGreaterThan(before));
    expect(t.calls).toEqual(["start blue"]);
    t.green.failingStreak = 0;
    t.emit("health_status: healthy");
    await vi.waitFor(() => expect(t.calls).toEqual(["start blue", "stop blue"]));
  });
});
