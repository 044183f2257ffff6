import { describe, expect, it } from "vitest";
import { isLoopbackHost, parseImageReference, validateTag } from "../../agent/registry/reference.js";

describe("parseImageReference", () => {
  it.each([
    ["ghcr.io/acme/web", { host: "ghcr.io", repository: "acme/web", scheme: "https" }],
    ["127.0.0.1:5000/x/y", { host: "127.0.0.1:5000", repository: "x/y", scheme: "http" }],
    ["localhost:5000/team/app", { host: "localhost:5000", repository: "team/app", scheme: "http" }],
    ["localhost/app", { host: "localhost", repository: "app", scheme: "http" }],
    ["[::1]:5000/app", { host: "[::1]:5000", repository: "app", scheme: "http" }],
    ["nginx", { host: "registry-1.docker.io", repository: "library/nginx", scheme: "https" }],
    ["acme/web", { host: "registry-1.docker.io", repository: "acme/web", scheme: "https" }],
    ["docker.io/nginx", { host: "registry-1.docker.io", repository: "library/nginx", scheme: "https" }],
    ["docker.io/acme/web", { host: "registry-1.docker.io", repository: "acme/web", scheme: "https" }],
    ["index.docker.io/library/redis", { host: "registry-1.docker.io", repository: "library/redis", scheme: "https" }],
    ["registry.example.com:8443/a/b/c", { host: "registry.example.com:8443", repository: "a/b/c", scheme: "https" }],
    ["128.0.0.1:5000/x", { host: "128.0.0.1:5000", repository: "x", scheme: "https" }],
    ["ghcr.io/acme/my_app.v2-beta", { host: "ghcr.io", repository: "acme/my_app.v2-beta", scheme: "https" }],
  ])("parses %s", (image, expected) => {
    expect(parseImageReference(image)).toEqual(expected);
  });

  it("rejects a tag in the image, pointing at track", () => {
    expect(() => parseImageReference("ghcr.io/acme/web:1.2")).toThrowError(
      expect.objectContaining({ code: "BAD_ARGUMENT", message: 'image "ghcr.io/acme/web:1.2" must not carry a tag; put the tag in track' }),
    );
  });

  it("rejects a digest in the image", () => {
    expect(() => parseImageReference(`ghcr.io/acme/web@sha256:${"0".repeat(64)}`)).toThrowError(
      expect.objectContaining({ code: "BAD_ARGUMENT", message: `image "ghcr.io/acme/web@sha256:${"0".repeat(64)}" must not carry a digest` }),
    );
  });

  it.each(["ghcr.io/Acme/web", "ghcr.io//web", "ghcr.io/acme/web/", "ghcr.io/-web", ""])("rejects the repository path of %j", (image) => {
    expect(() => parseImageReference(image)).toThrowError(expect.objectContaining({ code: "BAD_ARGUMENT" }));
  });
});

describe("isLoopbackHost", () => {
  it.each([
    ["127.0.0.1:5000", true],
    ["127.255.3.4", true],
    ["localhost", true],
    ["LOCALHOST:80", true],
    ["[::1]:5000", true],
    ["10.0.0.1:5000", false],
    ["127.example.com", false],
    ["ghcr.io", false],
  ])("classifies %s as loopback: %s", (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});

describe("validateTag", () => {
  it.each(["latest", "v1.2.3", "1.2.3-rc.1", "_x", "a".repeat(128), "sha-0a1b2c"])("accepts %s", (tag) => {
    expect(validateTag(tag)).toBe(tag);
  });

  it.each(["", "-x", ".x", "a".repeat(129), "a/b", "a:b", "a b"])("rejects %j naming the argument", (tag) => {
    expect(() => validateTag(tag, "track")).toThrowError(
      expect.objectContaining({ code: "BAD_ARGUMENT", message: `track "${tag}" is not a valid image tag` }),
    );
  });
});
