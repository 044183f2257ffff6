// The registry boundary: turns an app's image and track into the digest to pull, over the OCI
// distribution API (docs/design.md#registry). undici is used only under agent/registry/.
import { monotonicNow, type MonotonicClock } from "../clock.js";
import type { Config } from "../config/schema.js";
import type { EngineAuth } from "../engine-auth.js";
import { AgentError } from "../errors.js";
import type { Logger } from "../log.js";
import { Authenticator, describeIdentity, unauthorized, type Authorization } from "./auth.js";
import { parseWwwAuthenticate } from "./challenge.js";
import { findCredentials } from "./credentials.js";
import { DOCKER_HUB_SERVER_KEY } from "./docker-config.js";
import { RegistryHttp, header, type HttpOptions, type HttpResponse } from "./http.js";
import { DIGEST_RE, ImageIndex, MANIFEST_ACCEPT, bareMediaType, isIndexMediaType, sha256Digest } from "./manifests.js";
import { formatPlatform, platformEntries, selectPlatform, type TargetPlatform } from "./platform.js";
import { DOCKER_HUB_HOST, parseImageReference, registryOrigin, validateTag, type ImageReference } from "./reference.js";
import { DEFAULT_FAILURE_BACKOFF, DEFAULT_RETRY_POLICY, type FailureBackoffPolicy, type RetryPolicy } from "./retry.js";
import { highestVersions, isSemverRange, pickHighestTag, validateRange } from "./track.js";
import { fetchAllTags } from "./tags.js";
import { errorDetail, parseJson } from "./body.js";
import { cleanText } from "../text.js";

export interface ResolvedImage {
  /** The image as configured, e.g. `ghcr.io/acme/web`. */
  image: string;
  /** The tag the digest was read from (for a semver track, the tag that was picked). */
  tag: string;
  /** What to pull, as `repo@digest`: the platform manifest when a platform was given, else the tag's manifest. */
  digest: string;
  /** The index (manifest list) digest, when the tag points to one and a platform was chosen from it. */
  indexDigest?: string;
  /** Media type of the manifest `digest` names. */
  mediaType: string;
}

/** How a resolve was asked for: `manual` (agentctl) goes out even while the registry is backed off after failures. */
export interface ResolveOptions {
  manual?: boolean;
}

export interface RegistryClientOptions {
  config: Config;
  log: Logger;
  env?: NodeJS.ProcessEnv;
  /** The Docker host's platform; when set, indexes are resolved to that platform's manifest. */
  platform?: TargetPlatform;
  /** Deadline of each HTTP request, default 15 s. */
  timeoutMs?: number;
  /** Retries of idempotent requests on 429/502/503/504; see retry.ts. */
  retry?: Partial<RetryPolicy>;
  /** Backoff from a host after 5xx answers and network errors; default from `poll.maxBackoff`. */
  failureBackoff?: FailureBackoffPolicy;
  /** The clock backoffs and token lifetimes run on; monotonic unless a test injects its own. */
  now?: MonotonicClock;
  /** Told of every registry HTTP answer (http.ts); the daemon counts them in its metrics. */
  onAnswer?: HttpOptions["onAnswer"];
}

export const DEFAULT_TIMEOUT_MS = 15_000;

/** Index → platform manifest choices remembered; an index digest names fixed content, so they never go stale. */
const PLATFORM_CHOICES_KEPT = 1000;

export class RegistryClient {
  readonly #log: Logger;
  readonly #config: Config;
  readonly #env: NodeJS.ProcessEnv;
  readonly #platform: TargetPlatform | undefined;
  readonly #timeoutMs: number;
  readonly #http: RegistryHttp;
  readonly #auth: Authenticator;
  /** `<host>/<repository>@<index digest>` → the platform entry chosen from it, so an unchanged index costs one HEAD. */
  readonly #platformChoices = new Map<string, { digest: string; mediaType: string }>();

  constructor(opts: RegistryClientOptions) {
    this.#log = opts.log;
    this.#config = opts.config;
    this.#env = opts.env ?? process.env;
    this.#platform = opts.platform;
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const now = opts.now ?? monotonicNow;
    this.#http = new RegistryHttp({
      timeoutMs: this.#timeoutMs,
      log: opts.log,
      retry: { ...DEFAULT_RETRY_POLICY, ...opts.retry },
      // failureDelayMs caps every wait at maxMs, the first one too.
      failureBackoff: opts.failureBackoff ?? { ...DEFAULT_FAILURE_BACKOFF, maxMs: opts.config.poll.maxBackoff },
      now,
      onAnswer: opts.onAnswer,
    });
    this.#auth = new Authenticator({ http: this.#http, credentials: (host) => this.#credentials(host), log: opts.log, now });
  }

  /**
   * The digest `track` currently names. A semver range (see `isSemverRange` for the rule) picks the
   * highest satisfying tag from the tag list; anything else is a tag.
   */
  async resolve(image: string, track: string, opts: ResolveOptions = {}): Promise<ResolvedImage> {
    if (!isSemverRange(track)) return this.resolveTag(image, validateTag(track, "track"), opts);
    validateRange(track, "track");
    const tags = await this.listTags(image, opts);
    const picked = pickHighestTag(tags, track);
    if (picked === undefined) {
      const seen = highestVersions(tags, 5);
      throw new AgentError("REGISTRY_NOT_FOUND", `no tag of ${image} satisfies "${track}"; ${tags.length} tags seen${seen.length > 0 ? `, highest: ${seen.join(", ")}` : ", none of them semver"}`, {
        hint: "push a tag in that range, or change the app's track",
      });
    }
    this.#log.debug({ image, track, tag: picked }, "semver track resolved to tag");
    return this.resolveTag(image, picked, opts);
  }

  /**
   * One HEAD of the tag's manifest (plus a token request when no fresh token is cached); with a
   * platform, one GET more the first time an index digest is seen.
   */
  async resolveTag(image: string, tag: string, opts: ResolveOptions = {}): Promise<ResolvedImage> {
    validateTag(tag, "tag");
    const ref = parseImageReference(image);
    const subject = `${image}:${tag}`;
    const path = `/v2/${ref.repository}/manifests/${tag}`;
    const head = await this.#call(ref, "HEAD", path, subject, opts);
    let digest = header(head, "docker-content-digest");
    let mediaType = bareMediaType(header(head, "content-type"));
    if (digest === undefined || !DIGEST_RE.test(digest)) {
      // distribution-spec makes the header a MUST; a registry that omits it still lets us hash the body.
      const get = await this.#call(ref, "GET", path, subject, opts);
      digest = sha256Digest(get.body);
      mediaType = bareMediaType(header(get, "content-type"));
    }
    if (this.#platform !== undefined && isIndexMediaType(mediaType)) {
      return this.#resolvePlatform(ref, image, tag, digest, this.#platform, opts);
    }
    return { image, tag, digest, mediaType };
  }

  /** Every tag of the image, following `Link: <…>; rel="next"` pages (docs/design.md#tag-list-paging), in registry order; at most DEFAULT_TAG_LIST_LIMITS. */
  async listTags(image: string, opts: ResolveOptions = {}): Promise<string[]> {
    const ref = parseImageReference(image);
    return fetchAllTags(ref, image, (url, maxBytes) => this.#call(ref, "GET", url, `repository ${image}`, { ...opts, maxBytes }));
  }

  /** Credentials for the Docker Engine's `X-Registry-Auth` when it pulls `image`; undefined for anonymous pulls. */
  async engineAuth(image: string): Promise<EngineAuth | undefined> {
    const ref = parseImageReference(image);
    const creds = await this.#credentials(ref.host);
    if (creds === undefined) return undefined;
    const serveraddress = ref.host === DOCKER_HUB_HOST ? DOCKER_HUB_SERVER_KEY : ref.host;
    if (creds.kind === "identity-token") return { identitytoken: creds.token.reveal(), serveraddress };
    return { username: creds.username, password: creds.password.reveal(), serveraddress };
  }

  /** How much longer scheduled polls of `image`'s registry are held off after its failures or a Retry-After; 0 when they go out. */
  heldOffMs(image: string): number {
    return this.#http.heldOffMs(new URL(registryOrigin(parseImageReference(image))).host);
  }

  /** Closes the connection pool. */
  async close(): Promise<void> {
    await this.#http.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #credentials(host: string): ReturnType<typeof findCredentials> {
    return findCredentials(host, { config: this.#config, env: this.#env, log: this.#log, timeoutMs: this.#timeoutMs });
  }

  async #resolvePlatform(ref: ImageReference, image: string, tag: string, indexDigest: string, platform: TargetPlatform, opts: ResolveOptions): Promise<ResolvedImage> {
    const key = `${ref.host}/${ref.repository}@${indexDigest}`;
    const known = this.#platformChoices.get(key);
    if (known !== undefined) return { image, tag, digest: known.digest, indexDigest, mediaType: known.mediaType };
    // Fetch by digest, not by tag, so a tag moved between the HEAD and this GET cannot mix two indexes.
    const res = await this.#call(ref, "GET", `/v2/${ref.repository}/manifests/${indexDigest}`, `${image}@${indexDigest}`, opts);
    const actual = sha256Digest(res.body);
    if (actual !== indexDigest) {
      throw new AgentError("REGISTRY_UNAVAILABLE", `index ${image}@${indexDigest} from ${ref.host} has content digest ${actual}; refusing it`, {
        hint: "the registry or a proxy in between altered the manifest; the agent tries again on its next poll",
      });
    }
    const index = ImageIndex.safeParse(parseJson(res.body));
    if (!index.success) {
      throw new AgentError("REGISTRY_UNAVAILABLE", `index ${image}@${indexDigest} from ${ref.host} is not a valid image index: ${index.error.issues[0]?.message ?? "not JSON"}`);
    }
    const entry = selectPlatform(index.data, platform);
    if (entry === undefined) {
      const have = platformEntries(index.data).map((m) => formatPlatform(m.platform ?? { os: "?", architecture: "?" }));
      throw new AgentError("REGISTRY_NOT_FOUND", `${image}:${tag} has no ${formatPlatform(platform)} image; it has ${have.length > 0 ? have.join(", ") : "no platform images"}`, {
        hint: `build and push ${image}:${tag} for ${formatPlatform(platform)} (docker buildx build --platform ${formatPlatform(platform)})`,
      });
    }
    this.#platformChoices.set(key, { digest: entry.digest, mediaType: entry.mediaType });
    if (this.#platformChoices.size > PLATFORM_CHOICES_KEPT) this.#platformChoices.delete(this.#platformChoices.keys().next().value as string);
    return { image, tag, digest: entry.digest, indexDigest, mediaType: entry.mediaType };
  }

  /**
   * One registry request with authorization: the cached value if fresh, else a new one fetched
   * first when the host is known to want auth, else the request goes out bare. A 401 is answered
   * once (a token the registry rejects, e.g. `invalid_token` after expiry, is dropped and fetched
   * anew). Any non-2xx left over becomes an AgentError.
   */
  async #call(ref: ImageReference, method: "GET" | "HEAD", pathOrUrl: string | URL, subject: string, opts: ResolveOptions & { maxBytes?: number }): Promise<HttpResponse> {
    const origin = new URL(registryOrigin(ref));
    const url = new URL(pathOrUrl, origin);
    if (url.origin !== origin.origin) {
      // Authorization is only ever sent to the registry itself (and its token realm).
      throw new AgentError("REGISTRY_UNAVAILABLE", `registry ${ref.host} pointed ${subject} at another origin ${url.origin}; not followed`);
    }
    const scope = `repository:${ref.repository}:pull`;
    const accept = url.pathname.includes("/manifests/") ? MANIFEST_ACCEPT : "application/json";
    const send = (auth: Authorization | undefined): Promise<HttpResponse> =>
      this.#http.send({
        method,
        url,
        headers: auth === undefined ? { accept } : { accept, authorization: auth.value.reveal() },
        ...(opts.maxBytes === undefined ? {} : { maxBytes: opts.maxBytes }),
        ...(opts.manual ? { manual: true } : {}),
      });
    let auth = this.#auth.cached(ref.host, scope) ?? (await this.#auth.authorizeKnown(origin, scope, opts.manual ?? false));
    let res = await send(auth);
    if (res.status === 401) {
      this.#auth.invalidate(ref.host, scope);
      auth = await this.#auth.authorize(origin, scope, parseWwwAuthenticate(res.headers["www-authenticate"]), opts.manual ?? false);
      res = await send(auth);
      // A value the registry refuses right after issuing it is worthless; do not reuse it next poll.
      if (res.status === 401 || res.status === 403) this.#auth.invalidate(ref.host, scope);
    }
    if (res.status >= 200 && res.status < 300) return res;
    throw statusError(ref, method, subject, res, auth?.identity ?? describeIdentity(undefined));
  }
}

function statusError(ref: ImageReference, method: string, subject: string, res: HttpResponse, identity: string): AgentError {
  const detail = errorDetail(res.body);
  if (res.status === 401 || res.status === 403) {
    return unauthorized(ref.host, identity, `denied ${method} of ${subject} (HTTP ${res.status}${detail ? `: ${detail}` : ""})`);
  }
  if (res.status === 404) {
    return new AgentError("REGISTRY_NOT_FOUND", `${subject} not found on ${ref.host}${detail ? ` (${detail})` : ""}`, {
      hint: "check the app's image and track; the tag may not be pushed yet",
    });
  }
  const retryAfter = cleanText(header(res, "retry-after") ?? "", 64);
  const busy = res.status === 429 ? "rate limited" : res.status >= 500 ? "server error" : "unexpected answer";
  return new AgentError("REGISTRY_UNAVAILABLE", `registry ${ref.host} answered ${res.status} (${busy}) to ${method} of ${subject}${retryAfter ? `; Retry-After: ${retryAfter}` : ""}${detail ? `: ${detail}` : ""}`, {
    hint: "the agent tries again on its next poll",
  });
}
