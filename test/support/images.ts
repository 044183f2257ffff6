// Fixture images for the tests: built from test/fixtures/images/<behaviour> with testcontainers,
// then tagged and pushed to the local test registry with dockerode, so that the agent has a real
// registry to resolve and pull from. Nothing is ever pulled from the internet.
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import Dockerode from "dockerode";

export const TEST_REGISTRY = "127.0.0.1:5000";
/** Where test/env/ensure.sh has that registry keep its data (REGISTRY_STORAGE there). */
export const TEST_REGISTRY_STORAGE = "/tmp/deploy-agent-test-registry";
/** Every container a test creates carries this label with the value of `testRunId()`. */
export const TEST_RUN_LABEL = "deploy-agent.test-run";
/** Local repository of the built fixtures; their tags start with the run id (see `cleanup.ts`). */
export const FIXTURE_REPO = "deploy-agent-fixture";

export type Behaviour = "good" | "slow" | "never-healthy" | "crash";
export const BEHAVIOURS: readonly Behaviour[] = ["good", "slow", "never-healthy", "crash"];

/** Port every fixture serves on (`busybox httpd -p 8000`); "crash" never gets that far. */
export const FIXTURE_PORT = 8000;
/** The slow fixture's delay before serving when `delaySec` is not given (its Dockerfile default). */
export const DEFAULT_SLOW_DELAY_SEC = 8;

const BUSYBOX = "/usr/bin/busybox";
const BUILD_DEADLINE_MS = 180_000;
const PUSH_DEADLINE_MS = 120_000;

let runId: string | undefined;

/**
 * Stable for the whole process, including across vitest test files run in the same worker
 * (kept in the environment), so that one cleanup finds everything. DEPLOY_AGENT_TEST_RUN may
 * be set by CI to pick the id.
 */
export function testRunId(): string {
  runId ??= process.env.DEPLOY_AGENT_TEST_RUN ??= randomBytes(4).toString("hex");
  return runId;
}

export interface PublishOptions {
  /** Repository under the test registry, e.g. `stories/web-<runId>`. */
  repo: string;
  tag: string;
  behaviour: Behaviour;
  /** Served at `/version` and shown on `/`. */
  version: string;
  /** Only for "slow": seconds before it serves; default 8. */
  delaySec?: number;
  docker?: Dockerode;
  /** Another registry than the shared test one (`127.0.0.1:<port>`), and the credentials the Engine pushes with. */
  registry?: string;
  auth?: { username: string; password: string; serveraddress: string };
}

export interface PublishedImage {
  /** Repository without tag, e.g. `127.0.0.1:5000/stories/web-abc123`. */
  image: string;
  tag: string;
  /** Manifest digest the registry stored for the tag, as reported by the push. */
  digest: string;
}

/** Builds (once per process per behaviour, version and delay) and pushes `<image>:<tag>`. */
export async function publishVersion(opts: PublishOptions): Promise<PublishedImage> {
  const docker = opts.docker ?? new Dockerode();
  const local = await fixtureImage(docker, opts.behaviour, opts.version, opts.delaySec);
  const registry = opts.registry ?? TEST_REGISTRY;
  const image = `${registry}/${stripRegistry(opts.repo)}`;
  await docker.getImage(local).tag({ repo: image, tag: opts.tag });
  const digest = await pushTag(docker, image, opts.tag, registry, opts.auth ?? {});
  return { image, tag: opts.tag, digest };
}

/**
 * Removes every local reference (tags and digests) under `<registry>/<repoPrefix>`, so that a
 * deploy has to pull from the registry. The layers stay if a fixture tag still holds them.
 */
export async function removeLocalImages(repoPrefix: string, docker: Dockerode = new Dockerode()): Promise<void> {
  const prefix = `${TEST_REGISTRY}/${stripRegistry(repoPrefix)}`;
  const images = await docker.listImages({ all: false });
  for (const info of images) {
    const refs = [...(info.RepoTags ?? []), ...(info.RepoDigests ?? [])].filter((ref) => ref.startsWith(prefix));
    for (const ref of refs) await removeImageRef(docker, ref);
  }
}

/** Removes one image reference; a reference that is already gone counts as removed. */
export async function removeImageRef(docker: Dockerode, ref: string): Promise<void> {
  try {
    // force: a stopped (or running) test container may still use the image; only the reference goes.
    await docker.getImage(ref).remove({ force: true });
  } catch (err) {
    if (statusCode(err) !== 404) throw err;
  }
}

/**
 * Set for a whole vitest run by test/support/fixture-cache.ts: fixture tags carry it rather than
 * the file's run id (each test file runs in a process of its own, with its own id), so that a file
 * reuses the image an earlier file built from the same Dockerfile and build arguments, and the
 * per-file cleanup leaves it for the next file. Unset (a bench, a script), the run id scopes them.
 */
export const FIXTURE_CACHE_ENV = "DEPLOY_AGENT_FIXTURE_CACHE";

/** The local tag of one fixture build: its scope (the run's cache, or this process's run id) and a hash of its build inputs. */
function fixtureTag(behaviour: Behaviour, key: string): string {
  const scope = process.env[FIXTURE_CACHE_ENV] ?? testRunId();
  return `${FIXTURE_REPO}/${behaviour}:${scope}-${createHash("sha256").update(key).digest("hex").slice(0, 12)}`;
}

/** Builds a fixture image locally and returns its local tag; reused while the tag exists. */
export async function fixtureImage(
  docker: Dockerode,
  behaviour: Behaviour,
  version: string,
  delaySec?: number,
): Promise<string> {
  const delay = behaviour === "slow" ? (delaySec ?? DEFAULT_SLOW_DELAY_SEC) : undefined;
  const key = JSON.stringify([behaviour, version, delay ?? null]);
  const cached = built.get(key);
  if (cached !== undefined) {
    const tag = await cached.catch(() => undefined);
    // A cleanup in an earlier test file may have removed the tag; then build again.
    if (tag !== undefined && (await imageExists(docker, tag))) return tag;
    built.delete(key);
  }
  const tag = fixtureTag(behaviour, key);
  // Built by an earlier test file of this run from the same inputs.
  if (await imageExists(docker, tag)) return tag;
  const pending = buildFixture(behaviour, version, delay, tag);
  built.set(key, pending);
  pending.catch(() => built.delete(key));
  return pending;
}

const built = new Map<string, Promise<string>>();

async function buildFixture(
  behaviour: Behaviour,
  version: string,
  delaySec: number | undefined,
  tag: string,
): Promise<string> {
  if (!existsSync(BUSYBOX)) {
    throw new Error(`${BUSYBOX} not found; install busybox-static (test/env/ensure.sh does)`);
  }
  // Ryuk (the reaper) is an image from Docker Hub, which cannot be pulled here; cleanup is by label.
  process.env.TESTCONTAINERS_RYUK_DISABLED = "true";
  const { GenericContainer } = await import("testcontainers");

  const context = await mkdtemp(path.join(tmpdir(), `deploy-agent-fixture-${behaviour}-`));
  try {
    await copyFile(path.join(fixturesDir(), behaviour, "Dockerfile"), path.join(context, "Dockerfile"));
    await copyFile(BUSYBOX, path.join(context, "busybox"));
    const buildArgs: Record<string, string> = { VERSION: version };
    if (delaySec !== undefined) buildArgs.DELAY = String(delaySec);
    await withDeadline(
      GenericContainer.fromDockerfile(context).withBuildArgs(buildArgs).build(tag, { deleteOnExit: false }),
      BUILD_DEADLINE_MS,
      `building fixture ${behaviour} (version ${version}) as ${tag}`,
    );
  } finally {
    await rm(context, { recursive: true, force: true });
  }
  return tag;
}

/** Pushes one tag and returns the manifest digest from the push stream. */
export async function pushTag(docker: Dockerode, image: string, tag: string, registry: string, authconfig: object): Promise<string> {
  const ref = `${image}:${tag}`;
  const signal = AbortSignal.timeout(PUSH_DEADLINE_MS);
  // An explicit `tag` matters: without it the Engine pushes every local tag of the repository.
  // An empty auth config still sends X-Registry-Auth, which some Engine versions insist on.
  const stream = await docker.getImage(image).push({ tag, authconfig, abortSignal: signal });
  const messages = await readJsonStream(stream, signal, `pushing ${ref}`);
  let digest: string | undefined;
  for (const msg of messages) {
    // The Engine reports failures after the stream started as a final {error, errorDetail} line
    // with HTTP 200 (docs/design.md#pull-stream-errors); docker-modem would call that a success.
    if (msg.error !== undefined || msg.errorDetail !== undefined) {
      const detail = msg.errorDetail?.message ?? msg.error;
      throw new Error(`pushing ${ref} to ${registry} failed: ${detail}; is the test registry up (bash test/env/ensure.sh)?`);
    }
    digest ??= msg.aux?.Digest ?? /digest: (sha256:[0-9a-f]{64})/.exec(msg.status ?? "")?.[1];
  }
  if (digest === undefined) {
    throw new Error(`pushing ${ref} ended without a digest; last lines: ${JSON.stringify(messages.slice(-3))}`);
  }
  return digest;
}

interface JsonMessage {
  status?: string;
  error?: string;
  errorDetail?: { message?: string };
  aux?: { Digest?: string };
}

async function readJsonStream(stream: NodeJS.ReadableStream, signal: AbortSignal, what: string): Promise<JsonMessage[]> {
  let text = "";
  try {
    for await (const chunk of stream) text += typeof chunk === "string" ? chunk : chunk.toString("utf8");
  } catch (err) {
    if (signal.aborted) throw new Error(`${what}: no end of stream within ${PUSH_DEADLINE_MS / 1000}s`, { cause: err });
    throw err;
  }
  const messages: JsonMessage[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    messages.push(JSON.parse(line) as JsonMessage);
  }
  return messages;
}

/** `test/fixtures/images`, from the source tree or from its copy compiled to dist/. */
export function fixturesDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.resolve(here, "../fixtures/images"),
    path.resolve(here, "../../../test/fixtures/images"),
    path.resolve(process.cwd(), "test/fixtures/images"),
  ];
  const found = candidates.find((dir) => existsSync(path.join(dir, "good", "Dockerfile")));
  if (found === undefined) throw new Error(`fixture Dockerfiles not found in ${candidates.join(" or ")}`);
  return found;
}

async function imageExists(docker: Dockerode, ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).inspect();
    return true;
  } catch (err) {
    if (statusCode(err) === 404) return false;
    throw err;
  }
}

function stripRegistry(repo: string): string {
  return repo.startsWith(`${TEST_REGISTRY}/`) ? repo.slice(TEST_REGISTRY.length + 1) : repo;
}

export function statusCode(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null || !("statusCode" in err)) return undefined;
  return typeof err.statusCode === "number" ? err.statusCode : undefined;
}

async function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms / 1000}s`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
