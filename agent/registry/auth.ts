// Answers registry challenges: the distribution token flow for Bearer (docs/design.md#token-flow) and
// plain Basic. Authorization values are cached per (host, scope) and never leave that host or its realm.
import { z } from "zod";
import { AgentError } from "../errors.js";
import { Secret, type Logger } from "../log.js";
import type { Challenge } from "./challenge.js";
import type { Credentials } from "./credentials.js";
import { header, type HttpResponse, type RegistryHttp } from "./http.js";
import { errorDetail, parseJson } from "./body.js";
import { realmRefusal } from "./realm.js";
import { cleanText } from "../text.js";

/** Token endpoint response (distribution `docs/spec/auth/token.md` "Token Response Fields"). */
export const TokenResponse = z
  .object({
    token: z.string().min(1).optional(),
    access_token: z.string().min(1).optional(),
    expires_in: z.number().optional(),
    issued_at: z.string().optional(),
  })
  .refine((t) => t.token !== undefined || t.access_token !== undefined, "has neither token nor access_token");
export type TokenResponse = z.infer<typeof TokenResponse>;

/** token.md: "When omitted, this defaults to 60 seconds"; GHCR omits it (docs/design.md#token-flow). */
export const DEFAULT_TOKEN_LIFETIME_MS = 60_000;

/** How long a Basic header is reused before the credentials are read again (files, helpers). */
const BASIC_REUSE_MS = 60_000;

export interface Authorization {
  /** The `Authorization` header value. */
  value: Secret;
  /** Who the header speaks for, for messages: `user "alice" (agent.yaml registries.ghcr.io)` or `anonymous`. */
  identity: string;
}

interface CacheEntry extends Authorization {
  expiresAt: number;
}

export interface AuthenticatorOptions {
  http: RegistryHttp;
  credentials: (host: string) => Promise<Credentials | undefined>;
  log: Logger;
  /** Token lifetimes run on the monotonic clock (agent/clock.ts): the wall clock may jump. */
  now: () => number;
}

export function describeIdentity(creds: Credentials | undefined): string {
  if (creds === undefined) return "anonymous";
  return creds.kind === "identity-token" ? `an identity token (${creds.source})` : `user "${creds.username}" (${creds.source})`;
}

/** OAuth2 `client_id` sent with the refresh-token grant (distribution `docs/spec/auth/oauth.md`). */
const OAUTH_CLIENT_ID = "deploy-agent";

export class Authenticator {
  readonly #opts: AuthenticatorOptions;
  readonly #cache = new Map<string, CacheEntry>();
  /** Each host's last 401 challenges: once a host is known to want auth, tokens are fetched before asking it. */
  readonly #challenges = new Map<string, Challenge[]>();

  constructor(opts: AuthenticatorOptions) {
    this.#opts = opts;
  }

  /** The cached Authorization for `host` and `scope`, if one is still fresh. */
  cached(host: string, scope: string): Authorization | undefined {
    const key = cacheKey(host, scope);
    const entry = this.#cache.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt <= this.#opts.now()) {
      this.#cache.delete(key);
      return undefined;
    }
    return entry;
  }

  /** Drops the cached value, e.g. after the registry rejected it with `invalid_token`. */
  invalidate(host: string, scope: string): void {
    this.#cache.delete(cacheKey(host, scope));
  }

  /**
   * An Authorization for `scope` on a host that challenged an earlier request, fetched before the
   * request goes out, so an expired token costs one token request and not also a 401 round trip.
   * Undefined for a host that never asked for auth.
   */
  async authorizeKnown(origin: URL, scope: string, manual = false): Promise<Authorization | undefined> {
    const known = this.#challenges.get(origin.host);
    if (known === undefined) return undefined;
    // The remembered challenge named another repository's scope; this request needs its own.
    const challenges = known.map((c) => (c.scheme === "bearer" ? { ...c, scope } : c));
    return this.authorize(origin, scope, challenges, manual);
  }

  /**
   * Builds a fresh Authorization for the registry at `origin` from its 401 challenges: a Bearer
   * token from the realm, or Basic. Throws REGISTRY_UNAUTHORIZED when nothing can answer them.
   */
  async authorize(origin: URL, scope: string, challenges: Challenge[], manual = false): Promise<Authorization> {
    const host = origin.host;
    if (challenges.some((c) => c.scheme === "bearer" || c.scheme === "basic")) this.#challenges.set(host, challenges);
    const bearer = challenges.find((c) => c.scheme === "bearer");
    const basic = challenges.find((c) => c.scheme === "basic");
    const creds = await this.#opts.credentials(host);
    let auth: CacheEntry;
    if (bearer !== undefined) {
      auth = await this.#fetchToken(origin, scope, bearer, creds, manual);
    } else if (basic !== undefined) {
      if (creds === undefined) throw unauthorized(host, "anonymous", "requires Basic credentials and none are configured");
      if (creds.kind === "identity-token") throw unauthorized(host, describeIdentity(creds), "asks for Basic credentials, which an identity token cannot give");
      const value = `Basic ${Buffer.from(`${creds.username}:${creds.password.reveal()}`).toString("base64")}`;
      auth = { value: new Secret(value), identity: describeIdentity(creds), expiresAt: this.#opts.now() + BASIC_REUSE_MS };
    } else {
      throw unauthorized(host, describeIdentity(creds), "answered 401 without a Bearer or Basic challenge the agent can answer");
    }
    this.#cache.set(cacheKey(host, scope), auth);
    return auth;
  }

  async #fetchToken(origin: URL, scope: string, challenge: Challenge & { scheme: "bearer" }, creds: Credentials | undefined, manual: boolean): Promise<CacheEntry> {
    const host = origin.host;
    const identity = describeIdentity(creds);
    let realm: URL;
    try {
      realm = new URL(challenge.realm);
    } catch (err) {
      throw new AgentError("REGISTRY_UNAVAILABLE", `registry ${host} named an invalid token realm "${cleanText(challenge.realm, 200)}"`, { cause: err });
    }
    // Checked before anything, anonymous requests included, is sent to the realm.
    const refusal = realmRefusal(origin, realm);
    if (refusal !== undefined) {
      throw new AgentError("REGISTRY_UNAUTHORIZED", `registry ${host} named token realm ${realm.origin}${realm.pathname}, which the agent refuses: ${refusal}; nothing was sent to it (tried as ${identity})`, {
        hint: `a registry's token realm must be https on a public address (plain http and internal addresses only for a registry on this host or network); check that ${host} is the registry you mean`,
      });
    }
    const wanted = challenge.scope ?? scope;
    const res = creds?.kind === "identity-token" ? await this.#refreshGrant(realm, challenge, wanted, creds.token, manual) : await this.#getToken(realm, challenge, wanted, creds, manual);
    if (res.status === 401 || res.status === 403 || (res.status === 400 && creds?.kind === "identity-token")) {
      const what = creds?.kind === "identity-token" ? "refused the identity token" : "refused a token";
      // The status says it all; token servers' refusal bodies add nothing ("incorrect username or password").
      throw unauthorized(host, identity, `token server ${realm.origin}${realm.pathname} ${what} for ${wanted} (HTTP ${res.status})`);
    }
    if (res.status >= 500 || res.status === 429) {
      const retryAfter = cleanText(header(res, "retry-after") ?? "", 64);
      throw new AgentError("REGISTRY_UNAVAILABLE", `token server ${realm.origin}${realm.pathname} for ${host} answered ${res.status}${retryAfter ? ` (Retry-After: ${retryAfter})` : ""}${said(res)}`, {
        hint: "the agent tries again on its next poll",
      });
    }
    if (res.status !== 200) throw unauthorized(host, identity, `token server ${realm.origin}${realm.pathname} answered ${res.status}${said(res)}`);
    const parsed = TokenResponse.safeParse(parseJson(res.body));
    if (!parsed.success) {
      throw new AgentError("REGISTRY_UNAVAILABLE", `token server ${realm.origin}${realm.pathname} for ${host} returned no usable token: ${parsed.error.issues[0]?.message ?? "bad JSON"}`);
    }
    const token = parsed.data.token ?? parsed.data.access_token ?? "";
    const lifetimeMs = parsed.data.expires_in !== undefined && parsed.data.expires_in > 0 ? parsed.data.expires_in * 1000 : DEFAULT_TOKEN_LIFETIME_MS;
    this.#opts.log.debug({ host, scope: wanted, lifetimeMs, identity }, "registry token obtained");
    return { value: new Secret(`Bearer ${token}`), identity, expiresAt: this.#opts.now() + lifetimeMs };
  }

  /** token.md: GET the realm with scope and service, and Basic credentials when there are any. */
  #getToken(realm: URL, challenge: Challenge & { scheme: "bearer" }, scope: string, creds: (Credentials & { kind: "password" }) | undefined, manual: boolean): Promise<HttpResponse> {
    realm.searchParams.set("scope", scope);
    if (challenge.service !== undefined) realm.searchParams.set("service", challenge.service);
    if (creds !== undefined) realm.searchParams.set("account", creds.username);
    const headers: Record<string, string> = { accept: "application/json" };
    // Basic towards the realm, as the token spec and GHCR expect (docs/design.md#token-flow); this is the only
    // host besides the registry that ever sees the password.
    if (creds !== undefined) headers.authorization = `Basic ${Buffer.from(`${creds.username}:${creds.password.reveal()}`).toString("base64")}`;
    return this.#opts.http.send({ method: "GET", url: realm, headers, maxBytes: 1024 * 1024, manual });
  }

  /** oauth.md: POST the realm a form with the refresh-token grant; the identity token never goes in a URL. */
  #refreshGrant(realm: URL, challenge: Challenge & { scheme: "bearer" }, scope: string, token: Secret, manual: boolean): Promise<HttpResponse> {
    const form = new URLSearchParams({ grant_type: "refresh_token", refresh_token: token.reveal(), client_id: OAUTH_CLIENT_ID, scope });
    if (challenge.service !== undefined) form.set("service", challenge.service);
    return this.#opts.http.send({
      method: "POST",
      url: realm,
      headers: { accept: "application/json", "content-type": "application/x-www-form-urlencoded" },
      body: form.toString(),
      maxBytes: 1024 * 1024,
      manual,
    });
  }
}

function cacheKey(host: string, scope: string): string {
  return `${host} ${scope}`;
}

/** `: <what the token server said>`, cleaned and short, or nothing. */
function said(res: HttpResponse): string {
  const detail = errorDetail(res.body);
  return detail === undefined ? "" : `: ${detail}`;
}

/** REGISTRY_UNAUTHORIZED naming the registry host and who the agent tried as, with the fix. */
export function unauthorized(host: string, identity: string, why: string): AgentError {
  return new AgentError("REGISTRY_UNAUTHORIZED", `registry ${host}: ${why}; tried as ${identity}`, {
    hint: `set registries."${host}".username and passwordFile (or credential) in agent.yaml, or run docker login ${host}; check that the token may read the image`,
  });
}
