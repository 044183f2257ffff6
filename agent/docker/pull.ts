// Pull by digest, treating an error inside the progress stream as the failure it is: dockerode's
// followProgress reports success even then (docs/design.md#pull-stream-errors). The result is confirmed by inspect.
import type Docker from "dockerode";
import { AgentError } from "../errors.js";
import { engineMessage, statusOf } from "./engine.js";

/** The Engine's X-Registry-Auth: a username and password, or an OAuth2 identity token (swagger "Authentication"). */
export type EngineAuth = { username: string; password: string; serveraddress: string } | { identitytoken: string; serveraddress: string };

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
export async function pullImage(docker: Docker, ref: string, opts: PullOptions = {}): Promise<Docker.ImageInspectInfo> {
  const timeoutMs = opts.timeoutMs ?? 30 * 60_000;
  const signals = [AbortSignal.timeout(timeoutMs), ...(opts.signal ? [opts.signal] : [])];
  const signal = AbortSignal.any(signals);
  let stream: NodeJS.ReadableStream;
  try {
    // dockerode sends `auth` as X-Registry-Auth (base64url JSON; docs/design.md#x-registry-auth).
    const pull = docker.pull.bind(docker) as (ref: string, o: object, cb: undefined, auth?: EngineAuth) => Promise<NodeJS.ReadableStream>;
    stream = await pull(ref, { abortSignal: signal }, undefined, opts.auth);
  } catch (err) {
    const status = statusOf(err);
    const why = status === 404 ? "not found in the registry" : engineMessage(err);
    throw new AgentError("PULL_FAILED", `pull of ${ref} failed: ${why}`, { cause: err });
  }
  await new Promise<void>((resolve, reject) => {
    let lastChatty = 0;
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
    docker.modem.followProgress(
      stream,
      (err: Error | null) => {
        signal.removeEventListener("abort", onAbort);
        if (err) fail(new AgentError("PULL_FAILED", `pull of ${ref} failed: ${err.message}`, { cause: err }));
        else resolve();
      },
      (line: ProgressLine) => {
        if (line.error !== undefined || line.errorDetail !== undefined) {
          signal.removeEventListener("abort", onAbort);
          fail(new AgentError("PULL_FAILED", `pull of ${ref} failed: ${line.errorDetail?.message ?? line.error}`));
          return;
        }
        if (!opts.onProgress || !line.status) return;
        const now = Date.now();
        if (CHATTY.has(line.status)) {
          if (now - lastChatty < 1000) return;
          lastChatty = now;
        }
        opts.onProgress([line.id, line.status, line.progress].filter(Boolean).join(" "));
      },
    );
  });
  const image = await inspectImage(docker, ref);
  if (!image) throw new AgentError("PULL_FAILED", `pull of ${ref} reported success but the Engine has no such image`);
  // The Engine verifies a by-digest pull against the digest; this makes sure the image found is the
  // one that digest names (RepoDigests lists the manifest digests the image was pulled by).
  const digest = ref.slice(ref.lastIndexOf("@") + 1);
  if (ref.includes("@") && !(image.RepoDigests ?? []).some((d) => d.endsWith(`@${digest}`))) {
    throw new AgentError("PULL_FAILED", `pull of ${ref} gave image ${image.Id}, which does not carry that digest (it has ${(image.RepoDigests ?? []).join(", ") || "none"})`);
  }
  return image;
}

/** The image, or undefined when the Engine does not have it. */
export async function inspectImage(docker: Docker, ref: string): Promise<Docker.ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(ref).inspect();
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw err;
  }
}
