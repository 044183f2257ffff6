// The words a person reads for a pin, a skip entry and a run of failures, shared by the daemon's answers and agentctl,
// so `check` and `status` never describe the same record two ways.
import type { ErrorRecord, HookRun, Pin, SkipEntry } from "./schema.js";

/** Why polling skips a digest, as a person says it. */
export function skipReasonWords(reason: SkipEntry["reason"]): string {
  return reason === "failed" ? "failed before" : "rolled back";
}

/**
 * "pinned to v1.0.0 (rolled back from v1.1.0)". A version that is the tracked tag itself (a moving
 * tag such as "latest") says little on its own, so it carries its short digest: latest@sha256:ab12….
 */
export function pinWords(pin: Pin, track: string): string {
  const ref = (version: string, digest: string | undefined): string =>
    version === track && digest !== undefined ? `${version}@${digest.slice(0, 19)}` : version;
  const from = pin.rolledBackFrom ? ` (rolled back from ${ref(pin.rolledBackFrom.version, pin.rolledBackFrom.digest)})` : "";
  return `pinned to ${ref(pin.version, pin.digest)}${from}`;
}

/** "3 failures in a row, last: PULL_FAILED: pull of … failed: …", for a poll's result and `status`. */
export function retryWords(failures: number, lastError: ErrorRecord): string {
  return `${failures} failure${failures === 1 ? "" : "s"} in a row, last: ${lastError.code}: ${lastError.message}`;
}

/**
 * How a release step's one-off failed: "exited with status 3", "ran past its timeout of 2s and was
 * killed" (the timeout said when known); undefined when it exited 0 in time.
 */
export function hookFailureWords(h: HookRun | undefined, timeoutMs?: number): string | undefined {
  if (!h || (!h.timedOut && h.exitCode === 0)) return undefined;
  const limit = timeoutMs === undefined ? "" : ` of ${timeoutMs / 1000}s`;
  return h.timedOut ? `ran past its timeout${limit} and was killed` : `exited with status ${h.exitCode}`;
}
