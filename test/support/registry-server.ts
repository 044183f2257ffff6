// The real distribution registry (Debian's /usr/bin/docker-registry, v2.8) started per test file on
// 127.0.0.1 with its own storage, plus helpers that push small OCI images over the registry API.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePortInRange } from "./loopback.js";

const REGISTRY_BIN = "/usr/bin/docker-registry";

export type RegistryAuth =
  | { kind: "none" }
  | { kind: "htpasswd"; users: Record<string, string> }
  | { kind: "token"; realm: string; service: string; issuer: string; rootcertbundle: string };

export interface RegistryServer {
  /** `127.0.0.1:<port>`, as an image host. */
  host: string;
  url: string;
  stop(): Promise<void>;
}

/** bcrypt for htpasswd (the only hash distribution accepts), via the C library's crypt(3) through Python. */
export async function bcryptHash(password: string): Promise<string> {
  const { stdout } = await promisify(execFile)("python3", [
    "-W", "ignore", "-c",
    "import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))",
    password,
  ]);
  const hash = stdout.trim();
  if (!/^\$2[aby]\$/.test(hash)) throw new Error(`python3 crypt did not produce a bcrypt hash: ${hash}`);
  return hash;
}

/**
 * Starts a registry with `auth`. `storage` serves another registry's filesystem storage instead of
 * a fresh one, e.g. the shared test registry's (TEST_REGISTRY_STORAGE) behind token auth.
 */
export async function startRegistry(auth: RegistryAuth, storage?: string): Promise<RegistryServer> {
  const dir = await mkdtemp(join(tmpdir(), "deploy-agent-registry-"));
  try {
    const port = await freePortInRange();
    const lines = [
      "version: 0.1",
      "log: { level: warn, accesslog: { disabled: true } }",
      `storage: { filesystem: { rootdirectory: ${storage ?? join(dir, "data")} }, delete: { enabled: true } }`,
      `http: { addr: 127.0.0.1:${port}, secret: test-secret }`,
    ];
    if (auth.kind === "htpasswd") {
      const entries = await Promise.all(Object.entries(auth.users).map(async ([u, p]) => `${u}:${await bcryptHash(p)}`));
      await writeFile(join(dir, "htpasswd"), `${entries.join("\n")}\n`);
      lines.push(`auth: { htpasswd: { realm: test-realm, path: ${join(dir, "htpasswd")} } }`);
    } else if (auth.kind === "token") {
      lines.push(
        "auth:",
        "  token:",
        `    realm: ${auth.realm}`,
        `    service: ${auth.service}`,
        `    issuer: ${auth.issuer}`,
        `    rootcertbundle: ${auth.rootcertbundle}`,
      );
    }
    await writeFile(join(dir, "config.yml"), `${lines.join("\n")}\n`);
    const child = spawn(REGISTRY_BIN, ["serve", join(dir, "config.yml")], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-4000);
    });
    const url = `http://127.0.0.1:${port}`;
    await waitUntilServing(child, url, () => stderr);
    return { host: `127.0.0.1:${port}`, url, stop: () => stopRegistry(child, dir) };
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

async function waitUntilServing(child: ChildProcess, url: string, stderr: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${stderr()}`);
    try {
      await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  child.kill("SIGKILL");
  throw new Error(`docker-registry not serving ${url} after 15000ms: ${stderr()}`);
}

async function stopRegistry(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
  await rm(dir, { recursive: true, force: true });
}

// ---- pushing content over the registry API (distribution-spec "Pushing blobs", "Pushing Manifests")

export interface Pushed {
  digest: string;
  size: number;
  mediaType: string;
}

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

export function digestOf(data: Buffer): string {
  return `sha256:${createHash("sha256").update(data).digest("hex")}`;
}

function authHeaders(authorization: string | undefined): Record<string, string> {
  return authorization === undefined ? {} : { authorization };
}

/** Monolithic upload: POST to open a session, PUT the bytes with `?digest=`. */
export async function pushBlob(url: string, repo: string, data: Buffer, authorization?: string): Promise<Pushed> {
  const digest = digestOf(data);
  const start = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: "POST", headers: authHeaders(authorization) });
  const location = start.headers.get("location");
  if (start.status !== 202 || location === null) throw new Error(`blob upload start for ${repo}: ${start.status} ${await start.text()}`);
  const put = new URL(location, url);
  put.searchParams.set("digest", digest);
  const done = await fetch(put, {
    method: "PUT",
    headers: { ...authHeaders(authorization), "content-type": "application/octet-stream" },
    body: data,
  });
  if (done.status !== 201) throw new Error(`blob upload for ${repo}: ${done.status} ${await done.text()}`);
  return { digest, size: data.length, mediaType: "application/octet-stream" };
}

export async function pushManifest(url: string, repo: string, reference: string, body: Buffer, mediaType: string, authorization?: string): Promise<Pushed> {
  const res = await fetch(`${url}/v2/${repo}/manifests/${reference}`, {
    method: "PUT",
    headers: { ...authHeaders(authorization), "content-type": mediaType },
    body,
  });
  if (res.status !== 201) throw new Error(`manifest PUT ${repo}:${reference}: ${res.status} ${await res.text()}`);
  return { digest: digestOf(body), size: body.length, mediaType };
}

export interface PlatformSpec {
  os: string;
  architecture: string;
  variant?: string;
}

/** A one-layer OCI image whose config names `platform`; distinct platforms give distinct digests. */
export async function pushImage(url: string, repo: string, tag: string, platform: PlatformSpec, authorization?: string): Promise<Pushed> {
  const layer = await pushBlob(url, repo, Buffer.from(`layer for ${repo} ${JSON.stringify(platform)}`), authorization);
  const config = Buffer.from(JSON.stringify({ ...platform, rootfs: { type: "layers", diff_ids: [layer.digest] }, config: {} }));
  const cfg = await pushBlob(url, repo, config, authorization);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: cfg.digest, size: cfg.size },
      layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: layer.digest, size: layer.size }],
    }),
  );
  return pushManifest(url, repo, tag, manifest, OCI_MANIFEST, authorization);
}

export interface IndexEntrySpec {
  manifest: Pushed;
  platform: PlatformSpec;
  annotations?: Record<string, string>;
}

/** An OCI index over already-pushed manifests (distribution 2.8 checks that they exist). */
export async function pushIndex(url: string, repo: string, tag: string, entries: IndexEntrySpec[], authorization?: string): Promise<Pushed> {
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: entries.map((e) => ({
        mediaType: e.manifest.mediaType,
        digest: e.manifest.digest,
        size: e.manifest.size,
        platform: e.platform,
        ...(e.annotations ? { annotations: e.annotations } : {}),
      })),
    }),
  );
  return pushManifest(url, repo, tag, index, OCI_INDEX, authorization);
}
