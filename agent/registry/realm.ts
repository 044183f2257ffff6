// Where a registry's Bearer challenge may send the agent's credentials. The realm comes from the
// registry's answer, so a hostile or compromised registry could name any URL: a service on this
// host (http://127.0.0.1:2375, the Docker API), the cloud metadata address (169.254.169.254) or a
// box on the private network. The agent sends its password to a realm only when that cannot happen.
import { isIP } from "node:net";
import { hostname } from "./reference.js";

/** Where an address is, as far as a realm is concerned. Names other than `localhost` count as public. */
export type AddressClass = "loopback" | "private" | "public";

/** IPv4 ranges that point into this host or its network: [base address, prefix length, class]. */
const V4_RANGES: readonly [string, number, AddressClass][] = [
  ["127.0.0.0", 8, "loopback"],
  // "This host on this network" (RFC 1122 §3.2.1.3); Linux connects 0.0.0.0 to the loopback.
  ["0.0.0.0", 8, "loopback"],
  ["10.0.0.0", 8, "private"],
  ["172.16.0.0", 12, "private"],
  ["192.168.0.0", 16, "private"],
  // Link-local, where clouds serve instance metadata and its credentials.
  ["169.254.0.0", 16, "private"],
  // Carrier-grade NAT shared space (RFC 6598), also used by overlay VPNs.
  ["100.64.0.0", 10, "private"],
];

function v4Number(address: string): number {
  return address.split(".").reduce((n, octet) => n * 256 + Number(octet), 0);
}

function classifyV4(address: string): AddressClass {
  const n = v4Number(address);
  for (const [base, prefix, cls] of V4_RANGES) {
    const size = 2 ** (32 - prefix);
    if (Math.floor(n / size) === Math.floor(v4Number(base) / size)) return cls;
  }
  return "public";
}

function classifyV6(address: string): AddressClass {
  const a = address.toLowerCase();
  if (a === "::1" || a === "::") return "loopback";
  // IPv4-mapped (::ffff:7f00:1 as the URL parser writes ::ffff:127.0.0.1) reaches the IPv4 address.
  const mapped = /^::ffff:(?:([0-9a-f]{1,4}):([0-9a-f]{1,4})|(\d+\.\d+\.\d+\.\d+))$/.exec(a);
  if (mapped) {
    if (mapped[3] !== undefined) return classifyV4(mapped[3]);
    const hi = parseInt(mapped[1] as string, 16);
    const lo = parseInt(mapped[2] as string, 16);
    return classifyV4(`${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`);
  }
  const first = parseInt(a.split(":")[0] || "0", 16);
  if ((first & 0xfe00) === 0xfc00) return "private"; // fc00::/7 unique local
  if ((first & 0xffc0) === 0xfe80) return "private"; // fe80::/10 link-local
  return "public";
}

/**
 * The class of a host as written in a URL or image reference (`127.0.0.1:5000`, `[::1]`, `localhost`).
 * Only literal addresses and `localhost` (with its subdomains, RFC 6761 §6.3) are recognised: other
 * names are not resolved here.
 */
export function addressClass(host: string): AddressClass {
  const name = hostname(host).toLowerCase().replace(/\.$/, "");
  if (name === "localhost" || name.endsWith(".localhost")) return "loopback";
  const family = isIP(name);
  if (family === 4) return classifyV4(name);
  if (family === 6) return classifyV6(name);
  return "public";
}

/**
 * Why the agent refuses to send credentials to `realm` for the registry at `registry`, or undefined
 * when it may. The rules:
 * - the realm is https; plain http only when the registry itself is plain http on loopback and the
 *   realm is on loopback too, so nothing crosses a network in clear;
 * - a realm on a loopback address only for a registry on loopback, and a realm on a private or
 *   link-local address only for a registry on loopback or a private address: a registry cannot aim
 *   the agent at a service inside the host or its network unless it is already there itself.
 */
export function realmRefusal(registry: URL, realm: URL): string | undefined {
  const registryClass = addressClass(registry.host);
  const realmClass = addressClass(realm.host);
  if (realm.protocol !== "https:" && realm.protocol !== "http:") return `its scheme is ${realm.protocol.replace(/:$/, "")}, not https`;
  if (realm.protocol === "http:") {
    const plainLoopback = registry.protocol === "http:" && registryClass === "loopback" && realmClass === "loopback";
    if (!plainLoopback) return "it is plain http, which the agent uses only when both the registry and the realm are on loopback";
  }
  if (realmClass === "loopback" && registryClass !== "loopback") {
    return "it is on a loopback address and the registry is not";
  }
  if (realmClass === "private" && registryClass === "public") {
    return "it is on a private or link-local address and the registry is not";
  }
  return undefined;
}
