import { describe, expect, it } from "vitest";
import { registryAuthHeader } from "../../agent/docker/services.js";

describe("registryAuthHeader", () => {
  // What `docker service create --with-registry-auth` sends: the credentials as JSON in Go's
  // base64.URLEncoding (docker/api/types/registry EncodeAuthConfig), padded with "=". "??>" and
  // "~~~" encode to "+" and "/" in plain base64.
  it("encodes the credentials as padded base64url JSON, the form the Engine decodes", () => {
    const auth = { username: "ci??>", password: "p~~~w", serveraddress: "ghcr.io" };
    const header = registryAuthHeader(auth);
    expect(header).not.toMatch(/[+/]/);
    expect(header.length % 4).toBe(0);
    expect(JSON.parse(Buffer.from(header, "base64url").toString("utf8"))).toEqual(auth);
  });

  it("keeps the padding Node's base64url leaves out, without which the Engine pulls with no credentials", () => {
    const header = registryAuthHeader({ username: "agent", password: "swarm-secret", serveraddress: "127.0.0.1:5109" });
    expect(header).toMatch(/=$/);
  });
});
