import { closeSync, openSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { daemonStats } from "../../agent/daemon/stats.js";
import { EngineClient } from "../../agent/docker/client.js";

describe("daemon stats for status", () => {
  it("counts a descriptor the process opens and no longer counts it once closed", () => {
    const before = daemonStats().fds!;
    const fd = openSync(import.meta.filename, "r");
    try {
      expect(daemonStats().fds).toBe(before + 1);
    } finally {
      closeSync(fd);
    }
    expect(daemonStats().fds).toBe(before);
  });

  it("counts an active timer until it is cleared", () => {
    const before = daemonStats().timers;
    const timer = setTimeout(() => {}, 60_000);
    expect(daemonStats().timers).toBe(before + 1);
    clearTimeout(timer);
    expect(daemonStats().timers).toBe(before);
  });

  it("reports private memory below the whole resident set", () => {
    const stats = daemonStats();
    expect(stats.rssAnonBytes).toBeGreaterThan(0);
    expect(stats.rssAnonBytes).toBeLessThan(stats.rssBytes);
  });

  it("counts a Buffer the process holds in its native memory and its buffers", () => {
    const before = daemonStats();
    const held = Buffer.alloc(8 * 1024 * 1024, 1);
    const after = daemonStats();
    expect(after.arrayBuffersBytes - before.arrayBuffersBytes).toBeGreaterThanOrEqual(held.length);
    expect(after.externalBytes - before.externalBytes).toBeGreaterThanOrEqual(held.length);
    expect(after.heapTotalBytes).toBeGreaterThanOrEqual(after.heapUsedBytes);
  });

  it("counts an open Engine stream until it is closed, once however often close is called", async () => {
    // The opener stands in for a dockerode call: only the client's bookkeeping is under test.
    const client = new EngineClient({} as never, "/nonexistent/docker.sock", 1000);
    const before = daemonStats().engineStreams;
    const { close } = await client.stream("events of container x", async () => ({}));
    expect(daemonStats().engineStreams).toBe(before + 1);
    close();
    close();
    expect(daemonStats().engineStreams).toBe(before);
  });
});
