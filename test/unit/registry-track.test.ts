import { describe, expect, it } from "vitest";
import { highestVersions, isSemverRange, pickHighestTag, validateRange } from "../../agent/registry/track.js";

describe("isSemverRange", () => {
  it.each(["^1.2", "~1.4.0", ">=1.0.0", "<2", "=1.2.3", "1.x", "1.2.X", "x", "v1.x", "*", "1.2.3 - 1.4.0", ">=1 <2", "1 || 2"])(
    "treats %j as a range",
    (track) => {
      expect(isSemverRange(track)).toBe(true);
    },
  );

  it.each(["latest", "1.2.3", "v2", "next", "linux-x64", "main", "sha-1a2b3c", "1.2.3-rc.1"])("treats %j as a tag", (track) => {
    expect(isSemverRange(track)).toBe(false);
  });
});

describe("pickHighestTag", () => {
  const tags = ["latest", "1.0.0", "1.2.0", "1.10.0", "v1.9.0", "2.0.0-rc.1", "not-semver", "v1", "1.2", "0.9.9"];

  it("picks the highest version in the range, ignoring non-semver tags", () => {
    expect(pickHighestTag(tags, "^1.0.0")).toBe("1.10.0");
    expect(pickHighestTag(tags, "~1.9")).toBe("v1.9.0");
    expect(pickHighestTag(tags, "<1")).toBe("0.9.9");
    expect(pickHighestTag(tags, "*")).toBe("1.10.0");
  });

  it("takes a pre-release only when the range names one", () => {
    expect(pickHighestTag(tags, ">=1.0.0")).toBe("1.10.0");
    expect(pickHighestTag(tags, ">=2.0.0-rc.0")).toBe("2.0.0-rc.1");
  });

  it("prefers the tag without v when both spell the same version, whatever the order", () => {
    expect(pickHighestTag(["v1.2.3", "1.2.3"], "^1")).toBe("1.2.3");
    expect(pickHighestTag(["1.2.3", "v1.2.3"], "^1")).toBe("1.2.3");
  });

  it("returns undefined when nothing satisfies the range", () => {
    expect(pickHighestTag(tags, "^3")).toBeUndefined();
    expect(pickHighestTag([], "^1")).toBeUndefined();
  });
});

describe("validateRange", () => {
  it("rejects a range semver cannot parse, naming the argument", () => {
    expect(() => validateRange(">=banana", "track")).toThrowError(
      expect.objectContaining({ code: "BAD_ARGUMENT", message: 'track ">=banana" looks like a semver range but is not a valid one' }),
    );
  });
});

describe("highestVersions", () => {
  it("lists semver tags highest first", () => {
    expect(highestVersions(["a", "1.0.0", "v2.0.0", "1.5.0", "0.1.0"], 3)).toEqual(["v2.0.0", "1.5.0", "1.0.0"]);
  });
});
