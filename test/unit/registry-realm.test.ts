import { describe, expect, it } from "vitest";
import { addressClass, realmRefusal } from "../../agent/registry/realm.js";

const refusal = (registry: string, realm: string): string | undefined => realmRefusal(new URL(registry), new URL(realm));

describe("addressClass", () => {
  it.each([
    ["127.0.0.1:5000", "loopback"],
    ["127.3.4.5", "loopback"],
    ["[::1]:5000", "loopback"],
    ["localhost:5000", "loopback"],
    ["tokens.localhost", "loopback"],
    ["0.0.0.0", "loopback"],
    ["[::ffff:7f00:1]", "loopback"],
    ["10.1.2.3", "private"],
    ["172.16.0.1", "private"],
    ["172.31.255.255", "private"],
    ["192.168.1.10:443", "private"],
    ["169.254.169.254", "private"],
    ["100.64.0.7", "private"],
    ["[fd00::2]", "private"],
    ["[fe80::1]", "private"],
    ["[::ffff:a00:1]", "private"],
    ["172.32.0.1", "public"],
    ["8.8.8.8", "public"],
    ["ghcr.io", "public"],
    ["[2001:db8::1]", "public"],
  ])("classes %s as %s", (host, cls) => {
    expect(addressClass(host)).toBe(cls);
  });
});

describe("realmRefusal", () => {
  it("accepts an https realm on a public name for a public registry", () => {
    expect(refusal("https://ghcr.io", "https://ghcr.io/token")).toBeUndefined();
    expect(refusal("https://registry-1.docker.io", "https://auth.docker.io/token")).toBeUndefined();
  });

  it("accepts plain http only between a plain-http loopback registry and a loopback realm", () => {
    expect(refusal("http://127.0.0.1:5000", "http://127.0.0.1:5001/token")).toBeUndefined();
    expect(refusal("http://localhost:5000", "http://[::1]:5001/token")).toBeUndefined();
    expect(refusal("http://127.0.0.1:5000", "http://auth.example.com/token")).toMatch(/^it is plain http/);
    expect(refusal("https://ghcr.io", "http://ghcr.io/token")).toMatch(/^it is plain http/);
    expect(refusal("https://10.0.0.5", "http://10.0.0.5/token")).toMatch(/^it is plain http/);
  });

  it("refuses a realm inside the host or its network named by a public registry", () => {
    expect(refusal("https://ghcr.io", "https://127.0.0.1:2376/token")).toBe("it is on a loopback address and the registry is not");
    expect(refusal("https://ghcr.io", "https://localhost/token")).toBe("it is on a loopback address and the registry is not");
    expect(refusal("https://ghcr.io", "https://169.254.169.254/latest/meta-data")).toBe("it is on a private or link-local address and the registry is not");
    expect(refusal("https://ghcr.io", "https://10.0.0.8/token")).toBe("it is on a private or link-local address and the registry is not");
    expect(refusal("https://ghcr.io", "https://[fd00::1]/token")).toBe("it is on a private or link-local address and the registry is not");
    // The URL parser turns these spellings into 127.0.0.1 before the rule sees them.
    expect(refusal("https://ghcr.io", "https://2130706433/token")).toBe("it is on a loopback address and the registry is not");
    expect(refusal("https://ghcr.io", "https://0x7f.1/token")).toBe("it is on a loopback address and the registry is not");
  });

  it("accepts an internal realm for a registry that is itself on one, but a loopback realm only for a loopback registry", () => {
    expect(refusal("https://10.0.0.5", "https://10.0.0.6/token")).toBeUndefined();
    expect(refusal("https://192.168.1.2:5000", "https://[fd00::3]/token")).toBeUndefined();
    expect(refusal("http://127.0.0.1:5000", "https://10.0.0.6/token")).toBeUndefined();
    expect(refusal("https://10.0.0.5", "https://127.0.0.1/token")).toBe("it is on a loopback address and the registry is not");
  });

  it("refuses a realm that is neither http nor https", () => {
    expect(refusal("https://ghcr.io", "file:///etc/passwd")).toBe("its scheme is file, not https");
  });
});
