// Choosing the manifest for the host's platform from an index, as Docker does (docs/design.md#platform-choice).
import type { ImageIndex, IndexEntry } from "./manifests.js";

export interface TargetPlatform {
  os: string;
  architecture: string;
  variant?: string;
}

interface Normalised {
  os: string;
  architecture: string;
  variant: string;
}

/**
 * containerd/platforms `normalizeArch` (database.go): aliases collapse, arm64's `v8` is its default
 * and so equals no variant, 32-bit arm without a variant means `v7`, amd64 `v1` equals none.
 */
export function normalisePlatform(p: TargetPlatform): Normalised {
  const os = p.os.toLowerCase();
  let architecture = p.architecture.toLowerCase();
  let variant = (p.variant ?? "").toLowerCase();
  switch (architecture) {
    case "x86_64":
    case "x86-64":
    case "amd64":
      architecture = "amd64";
      if (variant === "v1") variant = "";
      break;
    case "i386":
      architecture = "386";
      variant = "";
      break;
    case "aarch64":
    case "arm64":
      architecture = "arm64";
      if (variant === "8" || variant === "v8" || variant === "v8.0") variant = "";
      else if (variant === "9" || variant === "9.0" || variant === "v9.0") variant = "v9";
      break;
    case "armhf":
      architecture = "arm";
      variant = "v7";
      break;
    case "armel":
      architecture = "arm";
      variant = "v6";
      break;
    case "arm":
      if (variant === "" || variant === "7") variant = "v7";
      else if (/^[5-8]$/.test(variant)) variant = `v${variant}`;
      break;
  }
  return { os, architecture, variant };
}

/** `linux/arm64/v8`-style text for messages. */
export function formatPlatform(p: TargetPlatform): string {
  return [p.os, p.architecture, p.variant].filter((s) => s !== undefined && s !== "").join("/");
}

/**
 * buildx stores attestations in the index with platform `unknown/unknown` and the annotation
 * `vnd.docker.reference.type=attestation-manifest`; they are never runnable.
 */
function isAttestation(entry: IndexEntry): boolean {
  return (
    entry.annotations?.["vnd.docker.reference.type"] === "attestation-manifest" ||
    (entry.platform?.os === "unknown" && entry.platform.architecture === "unknown")
  );
}

/** Runnable entries of an index (those with a platform that is not an attestation), in index order. */
export function platformEntries(index: ImageIndex): IndexEntry[] {
  return index.manifests.filter((m) => m.platform !== undefined && !isAttestation(m));
}

/** The first entry matching `target` after normalisation, as Docker takes `manifestMatches[0]`; undefined when none. */
export function selectPlatform(index: ImageIndex, target: TargetPlatform): IndexEntry | undefined {
  const want = normalisePlatform(target);
  return platformEntries(index).find((m) => {
    if (m.platform === undefined) return false;
    const have = normalisePlatform(m.platform);
    return have.os === want.os && have.architecture === want.architecture && have.variant === want.variant;
  });
}
