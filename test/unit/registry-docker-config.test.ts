import { describe, expect, it } from "vitest";
import { dockerConfigPath, findDockerConfigAuth, parseDockerConfig, serverKeyHost } from "../../agent/registry/docker-config.js";

const b64 = (s: string): string => Buffer.from(s).toString("base64");

/** Shaped like the file `docker login` writes without a credential store. */
const plain = parseDockerConfig(
  JSON.stringify({
    auths: {
      "ghcr.io": { auth: b64("octocat:ghp_abc123") },
      "https://index.docker.io/v1/": { auth: b64("hubuser:dckr_pat_xyz") },
      "https://registry.example.com:8443/v2/": { auth: b64("svc:pa:ss:word") },
      "quay.io": {},
    },
    HttpHeaders: { "User-Agent": "Docker-Client/24.0.7 (linux)" },
  }),
  "/root/.docker/config.json",
);

describe("findDockerConfigAuth", () => {
  it("decodes auths[host].auth into username and password", () => {
    expect(findDockerConfigAuth(plain, "ghcr.io")).toEqual({ kind: "auth", username: "octocat", password: "ghp_abc123", key: "ghcr.io" });
  });

  it("matches Docker Hub's v1 index key for registry-1.docker.io", () => {
    expect(findDockerConfigAuth(plain, "registry-1.docker.io")).toEqual({
      kind: "auth",
      username: "hubuser",
      password: "dckr_pat_xyz",
      key: "https://index.docker.io/v1/",
    });
  });

  it("matches keys written as URLs by hostname and keeps colons in the password", () => {
    expect(findDockerConfigAuth(plain, "registry.example.com:8443")).toEqual({
      kind: "auth",
      username: "svc",
      password: "pa:ss:word",
      key: "https://registry.example.com:8443/v2/",
    });
  });

  it("finds nothing for a host without an entry or with an entry lacking auth", () => {
    expect(findDockerConfigAuth(plain, "quay.io")).toBeUndefined();
    expect(findDockerConfigAuth(plain, "127.0.0.1:5000")).toBeUndefined();
  });

  it("prefers credHelpers for the host, then credsStore, over auths", () => {
    const file = parseDockerConfig(
      JSON.stringify({
        auths: { "ghcr.io": {}, "123456789012.dkr.ecr.eu-west-1.amazonaws.com": {} },
        credsStore: "pass",
        credHelpers: { "123456789012.dkr.ecr.eu-west-1.amazonaws.com": "ecr-login" },
      }),
      "config.json",
    );
    expect(findDockerConfigAuth(file, "123456789012.dkr.ecr.eu-west-1.amazonaws.com")).toEqual({
      kind: "helper",
      helper: "ecr-login",
      serverUrl: "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
    });
    expect(findDockerConfigAuth(file, "ghcr.io")).toEqual({ kind: "helper", helper: "pass", serverUrl: "ghcr.io" });
    expect(findDockerConfigAuth(file, "registry-1.docker.io")).toEqual({ kind: "helper", helper: "pass", serverUrl: "https://index.docker.io/v1/" });
  });

  it("rejects an auth value that is not user:password", () => {
    const file = parseDockerConfig(JSON.stringify({ auths: { "ghcr.io": { auth: b64("no-colon") } } }), "config.json");
    expect(() => findDockerConfigAuth(file, "ghcr.io")).toThrowError(
      expect.objectContaining({ code: "CONFIG_INVALID", message: 'docker config auths["ghcr.io"].auth is not base64 of user:password' }),
    );
  });
});

describe("parseDockerConfig", () => {
  it("names the file when it is not JSON", () => {
    expect(() => parseDockerConfig("{", "/etc/docker-agent/config.json")).toThrowError(
      expect.objectContaining({ code: "CONFIG_INVALID", message: "/etc/docker-agent/config.json is not valid JSON" }),
    );
  });

  it("names the file and key when a field has the wrong type", () => {
    expect(() => parseDockerConfig('{"credsStore": 3}', "c.json")).toThrowError(
      expect.objectContaining({ code: "CONFIG_INVALID", message: expect.stringMatching(/^c\.json: credsStore: /) }),
    );
  });
});

describe("dockerConfigPath", () => {
  it("uses agent.yaml's dockerConfig first, then $DOCKER_CONFIG, then ~/.docker", () => {
    expect(dockerConfigPath("/etc/deploy-agent/docker.json", { DOCKER_CONFIG: "/x", HOME: "/home/a" })).toBe("/etc/deploy-agent/docker.json");
    expect(dockerConfigPath(undefined, { DOCKER_CONFIG: "/x", HOME: "/home/a" })).toBe("/x/config.json");
    expect(dockerConfigPath(undefined, { HOME: "/home/a" })).toBe("/home/a/.docker/config.json");
  });
});

describe("serverKeyHost", () => {
  it.each([
    ["https://index.docker.io/v1/", "index.docker.io"],
    ["ghcr.io", "ghcr.io"],
    ["http://127.0.0.1:5000", "127.0.0.1:5000"],
    ["GHCR.IO/", "ghcr.io"],
  ])("reduces %s to %s", (key, host) => {
    expect(serverKeyHost(key)).toBe(host);
  });
});
