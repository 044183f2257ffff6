// Manifest media types and the index/manifest-list schema the client reads (docs/design.md#registry).
import { createHash } from "node:crypto";
import { z } from "zod";

export const MEDIA_TYPES = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifestList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
} as const;

/**
 * All four types on every manifest request: the digest a registry returns for a tag depends on
 * Accept, and distribution 404s an OCI index when the index types are missing (docs/design.md#manifest-head-and-accept).
 */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.dockerManifestList,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifest,
].join(", ");

export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MEDIA_TYPES.ociIndex || mediaType === MEDIA_TYPES.dockerManifestList;
}

/** `Content-Type` without parameters: `application/vnd.oci.image.index.v1+json; charset=utf-8` → the type. */
export function bareMediaType(contentType: string | undefined): string {
  return (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

/** sha256 digests only; the OCI spec registers sha512 too, but no registry we target emits it. */
export const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function sha256Digest(body: Uint8Array): string {
  return `sha256:${createHash("sha256").update(body).digest("hex")}`;
}

/** OCI image-spec `image-index.md` "platform"; Docker's manifest list uses the same field names. */
export const Platform = z.object({
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  "os.version": z.string().optional(),
  "os.features": z.array(z.string()).optional(),
});
export type Platform = z.infer<typeof Platform>;

/** OCI image-spec `descriptor.md`, as an entry of an index. */
export const IndexEntry = z.object({
  mediaType: z.string(),
  digest: z.string().regex(DIGEST_RE, "expected a sha256 digest"),
  size: z.number().int().nonnegative(),
  platform: Platform.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type IndexEntry = z.infer<typeof IndexEntry>;

/**
 * OCI image-spec `image-index.md` and Docker's manifest list v2.2
 * (https://github.com/opencontainers/image-spec/blob/v1.1.0/image-index.md).
 */
export const ImageIndex = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(IndexEntry),
});
export type ImageIndex = z.infer<typeof ImageIndex>;
