// What an app's `track` means: a tag to follow, or a semver range to pick the highest tag from.
import semver from "semver";
import { AgentError } from "../errors.js";

/**
 * The rule that tells a range from a tag: `track` is a semver range when it starts with one of
 * `^ ~ > < =`, or contains `*`, a space, `||`, or an `x`/`X` standing as a whole version part
 * (`1.x`, `2.3.X`, `x`). Everything else (`latest`, `1.4.2`, `v2`, `next`, `linux-x64`) is a tag.
 * The x must be a whole part because tags such as `next` contain the letter but are not ranges.
 */
export function isSemverRange(track: string): boolean {
  if (/^[\^~><=]/.test(track)) return true;
  if (track.includes("*") || track.includes(" ") || track.includes("||")) return true;
  return /(?:^|[.v])[xX](?:$|\.)/.test(track) && /^v?(?:\d+|[xX])(?:\.(?:\d+|[xX]))*$/.test(track);
}

/** Parses a tag as a semver version, accepting a leading `v`; undefined for non-semver tags. */
export function tagVersion(tag: string): semver.SemVer | undefined {
  const text = tag.startsWith("v") ? tag.slice(1) : tag;
  return semver.parse(text) ?? undefined;
}

/** Throws BAD_ARGUMENT when `range` is not a range semver understands. */
export function validateRange(range: string, argument = "track"): string {
  if (semver.validRange(range) === null) {
    throw new AgentError("BAD_ARGUMENT", `${argument} "${range}" looks like a semver range but is not a valid one`, {
      hint: 'use a range such as "^1.2", "~1.4.0" or "1.x", or a plain tag such as "latest"',
    });
  }
  return range;
}

/**
 * The tag with the highest version satisfying `range`; undefined when none does.
 * Pre-releases count only when the range names one (semver's `includePrerelease: false`).
 * When `1.2.3` and `v1.2.3` both exist the one without `v` wins, so the choice does not depend on listing order.
 */
export function pickHighestTag(tags: readonly string[], range: string): string | undefined {
  let best: { tag: string; version: semver.SemVer } | undefined;
  for (const tag of tags) {
    const version = tagVersion(tag);
    if (version === undefined || !semver.satisfies(version, range, { includePrerelease: false })) continue;
    const order = best === undefined ? 1 : semver.compare(version, best.version);
    if (order > 0 || (order === 0 && best !== undefined && best.tag.startsWith("v") && !tag.startsWith("v"))) {
      best = { tag, version };
    }
  }
  return best?.tag;
}

/** Up to `n` semver tags, highest first; for messages that show what a registry has. */
export function highestVersions(tags: readonly string[], n: number): string[] {
  return tags
    .flatMap((tag) => {
      const version = tagVersion(tag);
      return version === undefined ? [] : [{ tag, version }];
    })
    .sort((a, b) => semver.rcompare(a.version, b.version))
    .slice(0, n)
    .map((t) => t.tag);
}
