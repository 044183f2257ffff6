// What the service does with a gate decision (agent/deploy/gates.ts), on a real state file: a
// notify-mode app's digest is recorded and announced once, a held digest is announced once, and
// a restarted daemon (a new PollGates on the reopened file) announces neither again.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { Config } from "../../agent/config/schema.js";
import { PollGates } from "../../agent/deploy/gates.js";
import type { DeployDeps } from "../../agent/deploy/run.js";
import { silentLogger } from "../../agent/log.js";
import type { NotifyEvent } from "../../agent/notify/event.js";
import { StateStore } from "../../agent/state/store.js";

const D2 = `sha256:${"2".repeat(64)}`;
const D3 = `sha256:${"3".repeat(64)}`;
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

async function gatesOn(path: string, app: Record<string, unknown>): Promise<{ gates: PollGates; store: StateStore; sent: NotifyEvent[]; polled: string[] }> {
  const config = Config.parse({ apps: { web: { image: "ghcr.io/acme/web", port: 8000, health: { path: "/health" }, ...app } } });
  const store = await StateStore.open(path, { log: silentLogger(), historyLimit: 50 });
  const sent: NotifyEvent[] = [];
  const polled: string[] = [];
  const deps = { config, store, log: silentLogger(), notify: { send: (e: NotifyEvent) => void sent.push(e) } } as unknown as DeployDeps;
  const gates = new PollGates(deps, async (a) => void polled.push(a));
  return { gates, store, sent, polled };
}

function stateFile(): string {
  const dir = mkdtempSync(join(tmpdir(), "gates-"));
  dirs.push(dir);
  return join(dir, "state.json");
}

describe("notify mode", () => {
  it("records a digest as available with one history record and one update-available, however often it is found", async () => {
    const path = stateFile();
    const first = await gatesOn(path, { mode: "notify" });
    const found = { ok: true as const, tag: "latest", digest: D2 };
    const r = await first.gates.available("web", { kind: "available", tag: "latest", digest: D2, fresh: true }, found);
    expect(r).toMatchObject({ app: "web", result: "available", digest: D2 });
    expect(r.detail).toMatch(/^latest \(222222222222\) is available since .*; agentctl deploy web deploys it$/);
    await first.gates.available("web", { kind: "available", tag: "latest", digest: D2, fresh: false }, found);
    const s = first.store.app("web");
    expect(s.available).toMatchObject({ version: "latest", digest: D2 });
    expect(s.history.map((h) => [h.outcome, h.trigger, h.digest, h.steps.length])).toEqual([["available", "poll", D2, 0]]);
    expect(first.sent).toEqual([{ event: "update-available", app: "web", trigger: "poll", release: { version: "latest", digest: D2 }, outcome: "available", reason: "mode notify: agentctl deploy deploys it" }]);
    expect(first.gates.status("web")).toMatchObject({ mode: "notify", available: { version: "latest", digest: D2 } });
  });

  it("records and announces a digest once when a scheduled poll and agentctl check find it at the same time", async () => {
    const { gates, store, sent } = await gatesOn(stateFile(), { mode: "notify" });
    const found = { ok: true as const, tag: "latest", digest: D2 };
    const d = { kind: "available" as const, tag: "latest", digest: D2, fresh: true };
    await Promise.all([gates.available("web", d, found), gates.available("web", d, found)]);
    expect(store.app("web").history).toHaveLength(1);
    expect(sent).toHaveLength(1);
  });

  it("clears the available release once the tag goes back to the live digest", async () => {
    const { gates, store } = await gatesOn(stateFile(), { mode: "notify" });
    await gates.available("web", { kind: "available", tag: "latest", digest: D2, fresh: true }, { ok: true, tag: "latest", digest: D2 });
    await gates.settle("web", { kind: "unchanged", tag: "latest", digest: D3 });
    expect(store.app("web").available).toBeUndefined();
  });
});

describe("a digest held back by minAge or a window", () => {
  it("is announced once, also after a restart, and polled again when it may deploy", async () => {
    const path = stateFile();
    const first = await gatesOn(path, { minAge: "50ms" });
    const found = { ok: true as const, tag: "latest", digest: D2 };
    await first.gates.noteSeen("web", found);
    const eligibleAtMs = Date.parse(first.store.app("web").seen!.since) + 50;
    const r = await first.gates.held("web", { kind: "too-young", tag: "latest", digest: D2, eligibleAtMs });
    expect(r.result).toBe("waiting");
    expect(r.detail).toContain("eligible at ");
    expect(r.detail).toContain("(minAge 50ms); agentctl deploy web deploys it now");
    await first.gates.held("web", { kind: "too-young", tag: "latest", digest: D2, eligibleAtMs });
    expect(first.sent.map((e) => [e.event, e.release?.digest])).toEqual([["update-available", D2]]);
    expect(first.gates.status("web").waiting).toMatchObject({ gate: "minAge", digest: D2, minAgeMs: 50 });
    await expect.poll(() => first.polled).toEqual(["web"]);

    const again = await gatesOn(path, { minAge: "50ms" });
    await again.gates.noteSeen("web", found);
    expect(again.store.app("web").seen?.since).toBe(first.store.app("web").seen?.since);
    await again.gates.held("web", { kind: "waiting-window", tag: "latest", digest: D2, opensAtMs: Date.now() + 60_000 });
    expect(again.sent).toEqual([]);
    again.gates.stop();
  });

  it("forgets a held digest once the tag goes back to the live digest, so nothing reads as waiting", async () => {
    const { gates, store } = await gatesOn(stateFile(), { minAge: "1h" });
    await gates.noteSeen("web", { ok: true, tag: "latest", digest: D2 });
    expect(store.app("web").seen).toMatchObject({ digest: D2 });
    await gates.settle("web", { kind: "unchanged", tag: "latest", digest: D3 });
    expect(store.app("web").seen).toBeUndefined();
  });

  it("ends the wait and its timer when the poll decides to deploy", async () => {
    const { gates } = await gatesOn(stateFile(), { window: ["00:00-24:00"] });
    await gates.held("web", { kind: "waiting-window", tag: "latest", digest: D2, opensAtMs: Date.now() + 3_600_000 });
    expect(gates.status("web").waiting).toMatchObject({ gate: "window" });
    await gates.settle("web", { kind: "deploy", tag: "latest", digest: D2 });
    expect(gates.status("web").waiting).toBeUndefined();
  });
});
