import { describe, expect, it } from "vitest";
import { parseWwwAuthenticate } from "../../agent/registry/challenge.js";

describe("parseWwwAuthenticate", () => {
  it("parses GHCR's Bearer challenge", () => {
    expect(parseWwwAuthenticate('Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:acme/web:pull"')).toEqual([
      { scheme: "bearer", realm: "https://ghcr.io/token", service: "ghcr.io", scope: "repository:acme/web:pull" },
    ]);
  });

  it("parses Docker Hub's Bearer challenge", () => {
    expect(
      parseWwwAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/nginx:pull"'),
    ).toEqual([{ scheme: "bearer", realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/nginx:pull" }]);
  });

  it("keeps a comma inside a quoted scope and reads the error", () => {
    expect(
      parseWwwAuthenticate(
        'Bearer realm="http://127.0.0.1:5124/token",service="test-registry",scope="repository:acme/app:pull,push",error="insufficient_scope"',
      ),
    ).toEqual([
      { scheme: "bearer", realm: "http://127.0.0.1:5124/token", service: "test-registry", scope: "repository:acme/app:pull,push", error: "insufficient_scope" },
    ]);
  });

  it("parses distribution's challenge for /v2/ without a scope", () => {
    expect(parseWwwAuthenticate('Bearer realm="http://127.0.0.1:5124/token",service="test-registry"')).toEqual([
      { scheme: "bearer", realm: "http://127.0.0.1:5124/token", service: "test-registry" },
    ]);
  });

  it("accepts spaces around separators, lowercase schemes, unquoted values and upper-case parameter names", () => {
    expect(parseWwwAuthenticate('bearer  Realm = "https://r/token" , service=svc ,error=invalid_token')).toEqual([
      { scheme: "bearer", realm: "https://r/token", service: "svc", error: "invalid_token" },
    ]);
  });

  it("unescapes backslash escapes in quoted values", () => {
    expect(parseWwwAuthenticate('Bearer realm="https://r/token",service="a \\"quoted\\" one"')).toEqual([
      { scheme: "bearer", realm: "https://r/token", service: 'a "quoted" one' },
    ]);
  });

  it("parses distribution's htpasswd Basic challenge", () => {
    expect(parseWwwAuthenticate('Basic realm="test-realm"')).toEqual([{ scheme: "basic", realm: "test-realm" }]);
  });

  it("parses ECR's Basic challenge with a service parameter", () => {
    expect(parseWwwAuthenticate('Basic realm="https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/",service="ecr.amazonaws.com"')).toEqual([
      { scheme: "basic", realm: "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com/" },
    ]);
  });

  it("splits several challenges in one value and across header lines", () => {
    expect(parseWwwAuthenticate(['Negotiate abc==, Basic realm="r"', 'Bearer realm="https://a/token",service="s"'])).toEqual([
      { scheme: "basic", realm: "r" },
      { scheme: "bearer", realm: "https://a/token", service: "s" },
    ]);
  });

  it("drops a Bearer challenge without a realm and unknown schemes", () => {
    expect(parseWwwAuthenticate('Bearer service="s", Digest realm="x", nonce="y"')).toEqual([]);
  });

  it("returns nothing for an absent or empty header", () => {
    expect(parseWwwAuthenticate(undefined)).toEqual([]);
    expect(parseWwwAuthenticate("")).toEqual([]);
  });
});
