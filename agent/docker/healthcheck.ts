// The Docker health checks the agent sets on the containers it creates, as plain data (pure): the
// timing every checked container gets, a shell command's check, and none at all.
import type { HealthConfig } from "./types.js";

/** The Engine takes durations in nanoseconds. */
export const NS_PER_MS = 1_000_000;

/** Failed probes in a row that make a container (or a Swarm task) unhealthy. */
export const HEALTH_RETRIES = 3;

/** The least time Docker gives one health probe (its own default is 30 s). */
export const PROBE_TIMEOUT_FLOOR_MS = 10_000;

/** Docker's way to switch off a HEALTHCHECK the image may carry: the container is judged by its process. */
export const NO_HEALTHCHECK: HealthConfig = { Test: ["NONE"], Interval: 0, Timeout: 0, StartPeriod: 0, Retries: 0 };

/** Every check the agent sets runs every `intervalMs`, with `startTimeoutMs` of grace while starting. */
export function healthTiming(intervalMs: number, startTimeoutMs: number): Omit<HealthConfig, "Test"> {
  return {
    Interval: intervalMs * NS_PER_MS,
    // A probe Docker cannot even start in time (runc under load, a stalled SD card) counts as a
    // failure, and three make the live release unhealthy: Traefik then drops it and the whole site
    // answers 404 while the app itself is fine. A generous limit absorbs stalls; a probe that
    // fails (an HTTP error, a refused connection) still counts at once.
    Timeout: Math.max(intervalMs, PROBE_TIMEOUT_FLOOR_MS) * NS_PER_MS,
    // Failures while still `starting` inside the start period do not count
    // (https://docs.docker.com/reference/dockerfile/#healthcheck, "start period").
    StartPeriod: startTimeoutMs * NS_PER_MS,
    Retries: HEALTH_RETRIES,
  };
}

/** A configured shell command as the check (CMD-SHELL): web's `health.command`, a role's. */
export function commandHealthcheck(command: string, intervalMs: number, startTimeoutMs: number): HealthConfig {
  return { Test: ["CMD-SHELL", command], ...healthTiming(intervalMs, startTimeoutMs) };
}
