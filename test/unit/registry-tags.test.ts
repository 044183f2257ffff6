import { describe, expect, it } from "vitest";
import { nextLink } from "../../agent/registry/tags.js";

describe("nextLink", () => {
  it("reads a relative next link as GHCR sends it", () => {
    expect(nextLink('</v2/acme/web/tags/list?last=v1.99&n=100>; rel="next"')).toBe("/v2/acme/web/tags/list?last=v1.99&n=100");
  });

  it("picks next among several links and relation lists", () => {
    expect(nextLink('<https://r/a>; rel="prev", <https://r/b>; rel="last next"')).toBe("https://r/b");
    expect(nextLink("<https://r/c>; rel=next")).toBe("https://r/c");
  });

  it("returns undefined without a next link", () => {
    expect(nextLink(undefined)).toBeUndefined();
    expect(nextLink('<https://r/a>; rel="prev"')).toBeUndefined();
  });
});
