// Why a deploy was told to stop. The daemon aborts its shutdown controller with a sentence
// ("the agent is stopping (SIGTERM)"), so every DEPLOY_ABORTED message can say why.

/** The sentence a signal was aborted with, or a general one when it carries none. */
export function abortReason(signal: AbortSignal | undefined): string {
  const reason: unknown = signal?.reason;
  return typeof reason === "string" && reason !== "" ? reason : "the agent is shutting down";
}

/** What the daemon aborts its running deploys with when it gets `sig`. */
export function stoppingReason(sig: string): string {
  return `the agent is stopping (${sig})`;
}
