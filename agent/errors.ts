// The one error type the agent throws across module boundaries, with a closed set of codes.
// Callers match on `code`; the CLI derives its exit status and `--json` output from it.

export const ERROR_CODES = [
  "CONFIG_INVALID",
  "BAD_ARGUMENT",
  "REGISTRY_UNAUTHORIZED",
  "REGISTRY_NOT_FOUND",
  "REGISTRY_UNAVAILABLE",
  "PULL_FAILED",
  "IMAGE_UNUSABLE",
  "IMAGE_REFUSED",
  "CONTAINER_CONFLICT",
  "SERVICE_CONFLICT",
  "NO_HEALTHCHECK",
  "GREEN_UNHEALTHY",
  "GREEN_EXITED",
  "PREDEPLOY_FAILED",
  "WATCH_FAILED",
  "DEPLOY_LOCKED",
  "DEPLOY_ABORTED",
  "NO_RELEASE",
  "STATE_CORRUPT",
  "ENGINE_UNAVAILABLE",
  "DAEMON_UNAVAILABLE",
  "ALREADY_RUNNING",
  "INTERNAL",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export class AgentError extends Error {
  override readonly name = "AgentError";
  readonly code: ErrorCode;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
  }

  toJSON(): { code: ErrorCode; message: string; hint?: string } {
    return this.hint === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, hint: this.hint };
  }
}

export function isAgentError(err: unknown, code?: ErrorCode): err is AgentError {
  return err instanceof AgentError && (code === undefined || err.code === code);
}

/** Wraps anything thrown into an AgentError, keeping AgentErrors as they are. */
export function toAgentError(err: unknown, fallback: ErrorCode = "INTERNAL"): AgentError {
  if (err instanceof AgentError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new AgentError(fallback, message, { cause: err });
}

/** Exit status of `agentctl` for each code: 2 for what the user typed, 1 for everything else. */
export function exitCodeFor(code: ErrorCode): number {
  switch (code) {
    case "BAD_ARGUMENT":
    case "CONFIG_INVALID":
      return 2;
    case "DEPLOY_LOCKED":
      return 3;
    case "DAEMON_UNAVAILABLE":
      return 4;
    default:
      return 1;
  }
}
