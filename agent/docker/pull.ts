// Pull by digest, treating an error inside the progress stream as the failure it is: dockerode's
// followProgress reports success even then (the Engine sends HTTP 200 before it knows). The result
// is confirmed by inspect.
import { linkedSignal } from "../abort.js";
import { monotonicNow } from "../clock.js";
import type { EngineAuth } from "../engine-auth.js";
import { AgentError, toAgentError } from "../errors.js";
import { cleanText } from "../text.js";
import { engineMessage, statusOf, type EngineClient } from "./client.js";
import { inspectImage } from "./images.js";
import { ping } from "./liveness.js";
import type { ImageView } from "./types.js";

/**
 * The Engine answers a pull once it has reached the registry, so the first answer may take longer
 * than any other call's; a frozen Engine still fails within this, not the whole pull's deadline.
 */
const PULL_FIRST_ANSWER_MIN_MS = 60_000;

export interface PullOptions {
  auth?: EngineAuth | undefined;
  onProgress?: (message: string) => void;
  timeoutMs?: number;
  signal?: AbortSignal;
}

interface ProgressLine {
  status?: string;
  id?: string;
  progress?: string;
  error?: string;
  errorDetail?: { message?: string };
}

/** Statuses that repeat many times per layer; reported at most once a second. */
const CHATTY = new Set(["Downloading", "Extracting", "Waiting", "Verifying Checksum"]);

/**
 * Pulls `ref` (repo@sha256:…) and returns the inspected image. Throws PULL_FAILED naming the
 * reference and the Engine's message; the image must carry the digest that was asked for.
 */
export async function pullImage(c: EngineClient, ref: string, opts: PullOptions = {}): Promise<ImageView> {
  const timeoutMs = opts.timeoutMs ?? 30 * 60_000;
  const linked = linkedSignal(opts.signal, timeoutMs);
  try {
    return await pullWithin(c, ref, opts, linked.signal, timeoutMs);
  } finally {
    linked.dispose();
  }
}

async function pullWithin(c: EngineClient, ref: string, opts: PullOptions, signal: AbortSignal, timeoutMs: number): Promise<ImageView> {
  let stream: NodeJS.ReadableStream;
  let close: () => void;
  try {
    // dockerode sends `auth` as X-Registry-Auth (base64url JSON).
    const pull = c.docker.pull.bind(c.docker) as (ref: string, o: object, cb: undefined, auth?: EngineAuth) => Promise<NodeJS.ReadableStream>;
    ({ stream, close } = await c.stream(
      `pull of ${ref}`,
      (abortSignal) => pull(ref, { abortSignal }, undefined, opts.auth),
      Math.max(c.timeoutMs, PULL_FIRST_ANSWER_MIN_MS),
      signal,
    ));
  } catch (err) {
    if (err instanceof AgentError) throw err;
    const status = statusOf(err);
    const why = status === 404 ? "not found in the registry" : engineMessage(err);
    throw pullError(ref, why, err);
  }
  try {
    await followPull(c, stream, ref, signal, timeoutMs, opts.onProgress);
  } catch (err) {
    throw signal.aborted ? err : await engineGoneInstead(c, err, ref);
  } finally {
    close();
  }
  const image = await inspectImage(c, ref);
  if (!image) throw new AgentError("PULL_FAILED", `pull of ${ref} reported success but the Engine has no such image`);
  // The Engine verifies a by-digest pull against the digest; this makes sure the image found is the
  // one that digest names (RepoDigests lists the manifest digests the image was pulled by).
  const digest = ref.slice(ref.lastIndexOf("@") + 1);
  if (ref.includes("@") && !image.repoDigests.some((d) => d.endsWith(`@${digest}`))) {
    throw new AgentError("IMAGE_UNUSABLE", `pull of ${ref} gave image ${image.id}, which does not carry that digest (it has ${image.repoDigests.join(", ") || "none"})`);
  }
  return image;
}

/**
 * Engine messages that mean the image itself is unusable here, whichever registry serves it: no
 * entry for this platform (moby distribution/pull_v2.go "no matching manifest for %s in the
 * manifest list entries", "does not match the specified platform").
 */
const UNUSABLE_RE = /no matching manifest for|does not match the specified platform|cannot be used on this platform/i;

/**
 * Content that does not match its digest ("filesystem layer verification failed for digest",
 * "image verification failed for digest", "manifest verification failed for digest" in
 * pull_v2.go). A digest names fixed content, so this is the registry's copy or the way here gone
 * wrong, not the release: pushing the same image again repairs it under the same digest, which a
 * skip would then never deploy.
 */
const CORRUPT_RE = /verification failed for digest/i;

/** PULL_FAILED for what may pass (the registry, its storage or the network failed), IMAGE_UNUSABLE for what will not. */
export function pullError(ref: string, why: string, cause?: unknown): AgentError {
  const opts = cause === undefined ? {} : { cause };
  if (UNUSABLE_RE.test(why)) {
    return new AgentError("IMAGE_UNUSABLE", `pull of ${ref} failed: ${why}`, {
      ...opts,
      hint: "the image is not for this host's platform; push an image built for it (polling skips this digest)",
    });
  }
  if (CORRUPT_RE.test(why)) {
    return new AgentError("PULL_FAILED", `pull of ${ref} failed: ${why}`, {
      ...opts,
      hint: "the registry sent content that does not match its digest (its copy is damaged, or something changed it on the way); the next polls try again with backoff; if it goes on, push the image again",
    });
  }
  return new AgentError("PULL_FAILED", `pull of ${ref} failed: ${why}`, { ...opts, hint: "the registry or the network failed during the pull; the next polls try again with backoff" });
}

/**
 * dockerd stopping cuts its pulls off (it closes the API first), which the stream reports as a pull
 * failure; that is the Engine's fault, not the release's, so an Engine that does not answer a ping
 * right after makes it ENGINE_UNAVAILABLE.
 */
async function engineGoneInstead(c: EngineClient, err: unknown, ref: string): Promise<unknown> {
  if (!(err instanceof AgentError) || err.code !== "PULL_FAILED") return err;
  try {
    await ping(c);
    return err;
  } catch (pingErr) {
    const gone = toAgentError(pingErr);
    return new AgentError("ENGINE_UNAVAILABLE", `pull of ${ref} was cut off: ${gone.message}`, { hint: gone.hint, cause: err });
  }
}

function followPull(c: EngineClient, stream: NodeJS.ReadableStream, ref: string, signal: AbortSignal, timeoutMs: number, onProgress?: (m: string) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let lastChatty = -Infinity;
    const fail = (err: AgentError) => {
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      reject(err);
    };
    const onAbort = () =>
      fail(
        new AgentError("PULL_FAILED", signal.reason instanceof Error && signal.reason.name === "TimeoutError"
          ? `pull of ${ref} did not finish within ${Math.round(timeoutMs / 1000)}s`
          : `pull of ${ref} was aborted`),
      );
    signal.addEventListener("abort", onAbort, { once: true });
    c.docker.modem.followProgress(
      stream,
      (err: Error | null) => {
        signal.removeEventListener("abort", onAbort);
        if (err) fail(pullError(ref, engineMessage(err), err));
        else resolve();
      },
      (line: ProgressLine) => {
        if (line.error !== undefined || line.errorDetail !== undefined) {
          signal.removeEventListener("abort", onAbort);
          fail(pullError(ref, cleanText(String(line.errorDetail?.message ?? line.error), 1024)));
          return;
        }
        if (!onProgress || !line.status) return;
        // Monotonic: after the wall clock jumps back, Date.now() would hold progress back by the jump.
        const now = monotonicNow();
        if (CHATTY.has(line.status)) {
          if (now - lastChatty < 1000) return;
          lastChatty = now;
        }
        onProgress(cleanText([line.id, line.status, line.progress].filter(Boolean).join(" "), 256));
      },
    );
  });
}
