// New releases without a build: a copy of a pushed image's manifest whose config carries one more
// environment variable, put straight into the test registry through the distribution API. The
// layers are shared, so each copy has a digest of its own yet costs the registry one small blob
// and the Engine's pull no layer download. For benches that publish a release every few seconds.
import { createHash } from "node:crypto";
import { TEST_REGISTRY } from "./images.js";

const MANIFEST_TYPES = ["application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json"];

interface ImageManifest {
  mediaType?: string;
  config: { mediaType: string; digest: string; size: number };
  layers: unknown[];
}

export interface VariantOptions {
  /** Repository under the test registry that holds `fromTag`. */
  repo: string;
  /** A tag of a single-platform image (as the Engine pushes it), e.g. `v1`. */
  fromTag: string;
  /** Tags to point at the copy. */
  tags: string[];
  /** Set as `VARIANT=<variant>` in the copy's config: what makes its digest new. */
  variant: string;
  /** A command to replace the image's own (`Cmd`), for a copy that behaves differently. */
  cmd?: string[];
  registry?: string;
}

async function registryFetch(url: string, init: RequestInit, what: string): Promise<Response> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
  if (!res.ok) throw new Error(`${what}: the registry answered ${res.status} ${(await res.text()).slice(0, 300)}`);
  return res;
}

/** Pushes the copy under every tag in `tags` and returns its manifest digest. */
export async function publishVariant(opts: VariantOptions): Promise<string> {
  const base = `http://${opts.registry ?? TEST_REGISTRY}/v2/${opts.repo}`;
  const manifestRes = await registryFetch(`${base}/manifests/${opts.fromTag}`, { headers: { accept: MANIFEST_TYPES.join(", ") } }, `GET ${opts.repo}:${opts.fromTag}`);
  const mediaType = manifestRes.headers.get("content-type") ?? MANIFEST_TYPES[0]!;
  const manifest = (await manifestRes.json()) as ImageManifest;
  if (!Array.isArray(manifest.layers)) throw new Error(`${opts.repo}:${opts.fromTag} is not a single-platform image manifest (${mediaType})`);
  const config = (await (await registryFetch(`${base}/blobs/${manifest.config.digest}`, {}, `GET config of ${opts.repo}:${opts.fromTag}`)).json()) as {
    config?: { Env?: string[]; Cmd?: string[] };
  };
  config.config = { ...config.config, Env: [...(config.config?.Env ?? []).filter((e) => !e.startsWith("VARIANT=")), `VARIANT=${opts.variant}`] };
  if (opts.cmd) config.config.Cmd = opts.cmd;
  const configBytes = Buffer.from(JSON.stringify(config));
  const configDigest = `sha256:${createHash("sha256").update(configBytes).digest("hex")}`;

  // A monolithic upload: POST opens the session, PUT with the digest sends the whole blob.
  const upload = await registryFetch(`${base}/blobs/uploads/`, { method: "POST" }, `POST upload to ${opts.repo}`);
  const location = new URL(upload.headers.get("location") ?? "", base);
  location.searchParams.set("digest", configDigest);
  await registryFetch(location.toString(), { method: "PUT", headers: { "content-type": "application/octet-stream" }, body: configBytes }, `PUT config to ${opts.repo}`);

  const copy = { ...manifest, config: { ...manifest.config, digest: configDigest, size: configBytes.length } };
  const body = JSON.stringify(copy, null, 3);
  const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
  for (const tag of opts.tags) {
    await registryFetch(`${base}/manifests/${tag}`, { method: "PUT", headers: { "content-type": mediaType }, body }, `PUT ${opts.repo}:${tag}`);
  }
  return digest;
}
