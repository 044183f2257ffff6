// A distribution token server for tests, exactly as docs/design.md#token-auth-in-the-tests describes: ES256 JWTs whose
// header carries the self-signed certificate in `x5c`, `aud` a string equal to the service.
import { execFile } from "node:child_process";
import { X509Certificate, createPrivateKey, randomUUID, sign, type KeyObject } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { closeServer, listenInRange } from "./loopback.js";

const run = promisify(execFile);

export interface Access {
  type: "repository";
  name: string;
  actions: string[];
}

export interface TokenRequestRecord {
  service: string | null;
  scopes: string[];
  account: string | null;
  /** The Basic username sent, or undefined for an anonymous request. */
  user: string | undefined;
  status: number;
  /** Only for a POST (OAuth2, distribution `oauth.md`): its grant_type and client_id. */
  grant?: string | null;
  clientId?: string | null;
}

export interface TokenServerOptions {
  service?: string;
  issuer?: string;
  /** username → password; these users get every action they ask for. */
  users?: Record<string, string>;
  /** Whether anonymous requests get `pull` (true) or an empty access list (false, the default). */
  anonymousPull?: boolean;
  /** identity (refresh) token → username, for POSTs with grant_type=refresh_token. */
  refreshTokens?: Record<string, string>;
}

export interface TokenServer {
  url: string;
  /** The realm to configure in the registry: `<url>/token`. */
  realm: string;
  service: string;
  issuer: string;
  /** PEM of the self-signed signing certificate, for the registry's `rootcertbundle`. */
  certPath: string;
  requests: TokenRequestRecord[];
  /** `expires_in` of the next responses; `undefined` omits the field (GHCR does, docs/design.md#token-flow). */
  expiresInS: number | undefined;
  /**
   * Seconds from now to the `exp` of the next tokens, 300 by default. The registry accepts a token
   * until 60 s after its exp (distribution's leeway), so -50 makes tokens it refuses after ~10 s,
   * whatever `expiresInS` promised: a token that stops working before the client expects.
   */
  jwtLifetimeS: number;
  /** Signs a token directly, e.g. for pushing test content. */
  mint(access: Access[], subject?: string): string;
  stop(): Promise<void>;
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString("base64url");
}

function signJwt(key: KeyObject, certDerB64: string, claims: object): string {
  const head = b64url(JSON.stringify({ typ: "JWT", alg: "ES256", x5c: [certDerB64] }));
  const body = b64url(JSON.stringify(claims));
  // JOSE wants the raw r‖s form of an ECDSA signature, not DER (RFC 7518 §3.4).
  const sig = sign("sha256", Buffer.from(`${head}.${body}`), { key, dsaEncoding: "ieee-p1363" });
  return `${head}.${body}.${b64url(sig)}`;
}

/** "repository:acme/web:pull,push" → Access; other scope types are ignored. */
function parseScope(scope: string): Access | undefined {
  const m = /^repository:([^:]+):(.*)$/.exec(scope);
  return m ? { type: "repository", name: m[1] as string, actions: (m[2] as string).split(",").filter(Boolean) } : undefined;
}

export async function startTokenServer(opts: TokenServerOptions = {}): Promise<TokenServer> {
  const dir = await mkdtemp(join(tmpdir(), "deploy-agent-token-"));
  const keyPath = join(dir, "key.pem");
  const certPath = join(dir, "cert.pem");
  try {
    await run("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", keyPath, "-out", certPath, "-days", "2", "-subj", "/CN=deploy-agent test token issuer",
    ]);
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
  const key = createPrivateKey(await readFile(keyPath));
  const certDer = new X509Certificate(await readFile(certPath)).raw.toString("base64");
  const service = opts.service ?? "test-registry";
  const issuer = opts.issuer ?? "test-issuer";
  const users = opts.users ?? {};

  const mint = (access: Access[], subject = "test"): string => {
    const now = Math.floor(Date.now() / 1000);
    const exp = now + state.jwtLifetimeS;
    return signJwt(key, certDer, { iss: issuer, sub: subject, aud: service, exp, nbf: Math.min(now - 5, exp - 1), iat: now, jti: randomUUID(), access });
  };

  const state: TokenServer = {
    url: "",
    realm: "",
    service,
    issuer,
    certPath,
    requests: [],
    expiresInS: 300,
    jwtLifetimeS: 300,
    mint,
    stop: async () => {
      await closeServer(server);
      await rm(dir, { recursive: true, force: true });
    },
  };

  const server = createServer((req, res) => {
    if (req.method === "POST") {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => oauthGrant(new URLSearchParams(Buffer.concat(chunks).toString("utf8")), res));
      return;
    }
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const record: TokenRequestRecord = {
      service: url.searchParams.get("service"),
      scopes: url.searchParams.getAll("scope").flatMap((s) => s.split(" ")),
      account: url.searchParams.get("account"),
      user: undefined,
      status: 200,
    };
    state.requests.push(record);
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? "");
    let user: string | undefined;
    if (basic) {
      const decoded = Buffer.from(basic[1] as string, "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      user = decoded.slice(0, colon);
      record.user = user;
      if (users[user] === undefined || users[user] !== decoded.slice(colon + 1)) {
        record.status = 401;
        res.writeHead(401, { "content-type": "application/json" }).end('{"details":"incorrect username or password"}');
        return;
      }
    }
    const access = record.scopes.flatMap((s) => {
      const a = parseScope(s);
      if (a === undefined) return [];
      if (user !== undefined) return [a];
      return opts.anonymousPull ? [{ ...a, actions: a.actions.filter((x) => x === "pull") }] : [];
    });
    const token = mint(access, user ?? "anonymous");
    const body: Record<string, unknown> = { token, access_token: token, issued_at: new Date().toISOString() };
    if (state.expiresInS !== undefined) body.expires_in = state.expiresInS;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
  });
  /** oauth.md: the refresh-token grant; an unknown token is `400 invalid_grant` (RFC 6749 §5.2). */
  const oauthGrant = (form: URLSearchParams, res: ServerResponse): void => {
    const user = (opts.refreshTokens ?? {})[form.get("refresh_token") ?? ""];
    const record: TokenRequestRecord = {
      service: form.get("service"),
      scopes: form.getAll("scope").flatMap((s) => s.split(" ")),
      account: null,
      user,
      status: 200,
      grant: form.get("grant_type"),
      clientId: form.get("client_id"),
    };
    state.requests.push(record);
    if (form.get("grant_type") !== "refresh_token" || user === undefined) {
      record.status = 400;
      res.writeHead(400, { "content-type": "application/json" }).end('{"error":"invalid_grant"}');
      return;
    }
    const access = record.scopes.map(parseScope).filter((a): a is Access => a !== undefined);
    const token = mint(access, user);
    const body: Record<string, unknown> = { access_token: token, scope: record.scopes.join(" "), issued_at: new Date().toISOString() };
    if (state.expiresInS !== undefined) body.expires_in = state.expiresInS;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(body));
  };

  const port = await listenInRange(server);
  state.url = `http://127.0.0.1:${port}`;
  state.realm = `${state.url}/token`;
  return state;
}
