// Whose fault a failed deploy was: the release's own (it will fail the same way every time, so
// polling skips its digest) or a passing one of the registry, the Engine or this host (polling
// tries the same digest again with backoff). Unknown codes count as passing: a release that is
// retried once too often costs a few polls; one skipped by mistake never deploys.
import type { ErrorCode } from "../errors.js";

/** Failures that say something about the release itself, and so repeat on every try of its digest. */
const RELEASE_FAULTS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  // Never healthy, or exits: the image or its config does not run.
  "GREEN_UNHEALTHY",
  "GREEN_EXITED",
  // No HEALTHCHECK and nothing in the image to probe with.
  "NO_HEALTHCHECK",
  // Carries routing or agent labels.
  "IMAGE_REFUSED",
  // Not for this host's platform. (Content that does not match its digest is the registry's
  // fault, PULL_FAILED: pushing the same image again repairs it under the same digest.)
  "IMAGE_UNUSABLE",
  // The release's predeploy command (its migrations) exited non-zero or ran past its timeout.
  "PREDEPLOY_FAILED",
]);

/** True when a deploy that failed with `code` should put its digest on the skip list. */
export function skipsRelease(code: ErrorCode): boolean {
  return RELEASE_FAULTS.has(code);
}
