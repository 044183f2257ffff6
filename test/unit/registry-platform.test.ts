import { describe, expect, it } from "vitest";
import { ImageIndex } from "../../agent/registry/manifests.js";
import { formatPlatform, normalisePlatform, platformEntries, selectPlatform } from "../../agent/registry/platform.js";

const d = (c: string): string => `sha256:${c.repeat(64)}`;

/** Shaped like `docker buildx imagetools inspect --raw` of a two-platform image with provenance attestations. */
const buildxIndex = ImageIndex.parse({
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.index.v1+json",
  manifests: [
    { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: d("1"), size: 1054, platform: { architecture: "amd64", os: "linux" } },
    { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: d("2"), size: 1054, platform: { architecture: "arm64", os: "linux", variant: "v8" } },
    {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: d("3"),
      size: 566,
      annotations: { "vnd.docker.reference.digest": d("1"), "vnd.docker.reference.type": "attestation-manifest" },
      platform: { architecture: "unknown", os: "unknown" },
    },
    {
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      digest: d("4"),
      size: 566,
      annotations: { "vnd.docker.reference.digest": d("2"), "vnd.docker.reference.type": "attestation-manifest" },
      platform: { architecture: "unknown", os: "unknown" },
    },
  ],
});

/** Shaped like an official-image Docker manifest list (library/alpine era), Windows entry included. */
const manifestList = ImageIndex.parse({
  schemaVersion: 2,
  mediaType: "application/vnd.docker.distribution.manifest.list.v2+json",
  manifests: [
    { mediaType: "application/vnd.docker.distribution.manifest.v2+json", size: 7023, digest: d("a"), platform: { architecture: "amd64", os: "windows", "os.version": "10.0.17763.5458" } },
    { mediaType: "application/vnd.docker.distribution.manifest.v2+json", size: 528, digest: d("b"), platform: { architecture: "amd64", os: "linux" } },
    { mediaType: "application/vnd.docker.distribution.manifest.v2+json", size: 528, digest: d("c"), platform: { architecture: "arm", os: "linux", variant: "v6" } },
    { mediaType: "application/vnd.docker.distribution.manifest.v2+json", size: 528, digest: d("d"), platform: { architecture: "arm", os: "linux", variant: "v7" } },
    { mediaType: "application/vnd.docker.distribution.manifest.v2+json", size: 528, digest: d("e"), platform: { architecture: "arm64", os: "linux" } },
    { mediaType: "application/vnd.docker.distribution.manifest.v2+json", size: 528, digest: d("f"), platform: { architecture: "386", os: "linux" } },
    { mediaType: "application/vnd.docker.distribution.manifest.v2+json", size: 528, digest: d("0"), platform: { architecture: "amd64", os: "linux" } },
  ],
});

describe("selectPlatform", () => {
  it.each([
    [{ os: "linux", architecture: "amd64" }, d("1")],
    [{ os: "linux", architecture: "arm64" }, d("2")],
    [{ os: "linux", architecture: "arm64", variant: "v8" }, d("2")],
    [{ os: "linux", architecture: "aarch64" }, d("2")],
    [{ os: "linux", architecture: "x86_64" }, d("1")],
  ])("picks %o from a buildx index", (target, digest) => {
    expect(selectPlatform(buildxIndex, target)?.digest).toBe(digest);
  });

  it.each([
    [{ os: "linux", architecture: "amd64" }, d("b")],
    [{ os: "windows", architecture: "amd64" }, d("a")],
    [{ os: "linux", architecture: "arm" }, d("d")],
    [{ os: "linux", architecture: "arm", variant: "v6" }, d("c")],
    [{ os: "linux", architecture: "arm64", variant: "v8" }, d("e")],
    [{ os: "linux", architecture: "i386" }, d("f")],
  ])("picks %o from a Docker manifest list, first match first", (target, digest) => {
    expect(selectPlatform(manifestList, target)?.digest).toBe(digest);
  });

  it("never picks an attestation entry, even when asked for unknown/unknown", () => {
    expect(selectPlatform(buildxIndex, { os: "unknown", architecture: "unknown" })).toBeUndefined();
  });

  it("finds nothing for a platform the index lacks", () => {
    expect(selectPlatform(buildxIndex, { os: "linux", architecture: "s390x" })).toBeUndefined();
    expect(selectPlatform(manifestList, { os: "linux", architecture: "arm", variant: "v5" })).toBeUndefined();
  });
});

describe("platformEntries", () => {
  it("lists the runnable platforms without attestations, in index order", () => {
    expect(platformEntries(buildxIndex).map((m) => formatPlatform(m.platform ?? { os: "", architecture: "" }))).toEqual([
      "linux/amd64",
      "linux/arm64/v8",
    ]);
  });
});

describe("normalisePlatform", () => {
  it.each([
    [{ os: "Linux", architecture: "arm64", variant: "v8" }, { os: "linux", architecture: "arm64", variant: "" }],
    [{ os: "linux", architecture: "aarch64", variant: "8" }, { os: "linux", architecture: "arm64", variant: "" }],
    [{ os: "linux", architecture: "arm64", variant: "9.0" }, { os: "linux", architecture: "arm64", variant: "v9" }],
    [{ os: "linux", architecture: "arm" }, { os: "linux", architecture: "arm", variant: "v7" }],
    [{ os: "linux", architecture: "armhf" }, { os: "linux", architecture: "arm", variant: "v7" }],
    [{ os: "linux", architecture: "armel" }, { os: "linux", architecture: "arm", variant: "v6" }],
    [{ os: "linux", architecture: "amd64", variant: "v1" }, { os: "linux", architecture: "amd64", variant: "" }],
    [{ os: "linux", architecture: "amd64", variant: "v3" }, { os: "linux", architecture: "amd64", variant: "v3" }],
  ])("normalises %o", (input, expected) => {
    expect(normalisePlatform(input)).toEqual(expected);
  });
});

describe("ImageIndex", () => {
  it("rejects an entry whose digest is not sha256", () => {
    const bad = ImageIndex.safeParse({ schemaVersion: 2, manifests: [{ mediaType: "x", digest: "md5:abc", size: 1 }] });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toBe("expected a sha256 digest");
  });
});
