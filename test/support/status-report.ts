// A status report of one app, "web", for the CLI's tests: the fields every report has, the app's
// own given over them. Each test adds what it is about (a live release, a poll, services).
import type { AppStatus, StatusReport } from "../../agent/control/api.js";

/** The time every fixture report was made at. */
export const REPORT_AT = "2025-01-01T10:00:00.000Z";

export function oneAppReport(app: Partial<AppStatus> = {}): StatusReport {
  return {
    version: "0.1.0",
    pid: 4242,
    startedAt: REPORT_AT,
    apps: [{ app: "web", image: "ghcr.io/acme/web", track: "latest", schedule: "*/5 * * * *", paused: false, releases: [], skip: [], containers: [], ...app }],
  };
}
