import { describe, expect, it } from "vitest";
import { ERROR_CODES, type ErrorCode } from "../../agent/errors.js";
import { skipsRelease } from "../../agent/deploy/faults.js";
import { pullError } from "../../agent/docker/pull.js";

/** Every code, and whether a deploy that failed with it puts its digest on the skip list. */
const EXPECTED: Record<ErrorCode, boolean> = {
  GREEN_UNHEALTHY: true,
  GREEN_EXITED: true,
  NO_HEALTHCHECK: true,
  IMAGE_REFUSED: true,
  IMAGE_UNUSABLE: true,
  PREDEPLOY_FAILED: true,
  PULL_FAILED: false,
  REGISTRY_UNAVAILABLE: false,
  REGISTRY_UNAUTHORIZED: false,
  REGISTRY_NOT_FOUND: false,
  ENGINE_UNAVAILABLE: false,
  CONTAINER_CONFLICT: false,
  SERVICE_CONFLICT: false,
  DEPLOY_ABORTED: false,
  DEPLOY_LOCKED: false,
  STATE_CORRUPT: false,
  INTERNAL: false,
  CONFIG_INVALID: false,
  BAD_ARGUMENT: false,
  NO_RELEASE: false,
  DAEMON_UNAVAILABLE: false,
  ALREADY_RUNNING: false,
  WATCH_FAILED: false,
};

describe("skipsRelease", () => {
  it.each(ERROR_CODES.map((code) => [code, EXPECTED[code]] as const))("%s skips the digest: %s", (code, skips) => {
    expect(skipsRelease(code)).toBe(skips);
  });
});

describe("pullError", () => {
  const ref = "ghcr.io/acme/web@sha256:" + "a".repeat(64);

  it.each([
    "no matching manifest for linux/arm64/v8 in the manifest list entries",
    "image with reference ghcr.io/acme/web was found but does not match the specified platform: wanted linux/arm64",
  ])("calls the image unusable, naming the reference, when the Engine says %s", (why) => {
    const err = pullError(ref, why);
    expect(err.code).toBe("IMAGE_UNUSABLE");
    expect(err.message).toContain(ref);
    expect(skipsRelease(err.code)).toBe(true);
  });

  it.each([
    "received unexpected HTTP status: 500 Internal Server Error",
    "toomanyrequests: too many requests",
    "unexpected EOF",
    "Get \"http://127.0.0.1:5101/v2/\": dial tcp 127.0.0.1:5101: connect: connection refused",
    "write /var/lib/docker/tmp/GetImageBlob123: no space left on device",
    "manifest unknown: manifest unknown",
    `filesystem layer verification failed for digest sha256:${"b".repeat(64)}`,
    `image verification failed for digest sha256:${"c".repeat(64)}`,
    `manifest verification failed for digest sha256:${"d".repeat(64)}`,
  ])("calls it a passing pull failure when the Engine says %s", (why) => {
    const err = pullError(ref, why);
    expect(err.code).toBe("PULL_FAILED");
    expect(err.message).toContain(ref);
    expect(skipsRelease(err.code)).toBe(false);
  });
});
