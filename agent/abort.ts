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

export interface LinkedSignal {
  signal: AbortSignal;
  /** Unhooks the signal from its parent and clears its timer; call it once the work is done. */
  dispose(): void;
}

/**
 * A signal that fires when `parent` does or, with `timeoutMs`, after that long (reason: a
 * DOMException named TimeoutError, as AbortSignal.timeout gives). Used instead of AbortSignal.any and
 * AbortSignal.timeout where the parent is the daemon's shutdown signal, which lives as long as the
 * daemon: on Node 20 every signal AbortSignal.any makes stays referenced from such a parent
 * (https://github.com/nodejs/node/issues/55351; 200,000 calls kept ~11 MB of heap here), and
 * AbortSignal.timeout's timer cannot be cleared, so a pull's would hold its signal for 30 minutes.
 */
export function linkedSignal(parent: AbortSignal | undefined, timeoutMs?: number): LinkedSignal {
  const ctl = new AbortController();
  const onAbort = () => ctl.abort(parent?.reason);
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => ctl.abort(new DOMException(`no end within ${timeoutMs}ms`, "TimeoutError")), timeoutMs);
  if (parent?.aborted) ctl.abort(parent.reason);
  else parent?.addEventListener("abort", onAbort, { once: true });
  return {
    signal: ctl.signal,
    dispose() {
      clearTimeout(timer);
      parent?.removeEventListener("abort", onAbort);
    },
  };
}
