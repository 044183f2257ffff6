// `http.listen`: where the opt-in HTTP listener binds. Only IP literals, so the address a person
// reads in agent.yaml is the one the socket opens: a host name could resolve to a public address
// (or to several) and expose the hooks where nobody meant to.
import { isIPv4, isIPv6 } from "node:net";

export interface ListenAddress {
  /** An IPv4 address or an IPv6 address without its brackets. */
  host: string;
  port: number;
}

const EXPECTED = 'expected host:port with an IP address, such as "127.0.0.1:9181" or "[::1]:9181"';

/** The address, or what is wrong with it (the caller names the field). */
export function parseListen(text: string): ListenAddress | { problem: string } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return { problem: EXPECTED };
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return { problem: `port must be 1-65535; ${EXPECTED}` };
  if (m[1] !== undefined) return isIPv6(m[1]) ? { host: m[1], port } : { problem: `the part in brackets is not an IPv6 address; ${EXPECTED}` };
  const host = m[2]!;
  if (!isIPv4(host)) return { problem: `a host name is not accepted, only an IP address; ${EXPECTED}` };
  return { host, port };
}

/** `127.0.0.1:9181`, `[::1]:9181`: the form messages and logs use. */
export function formatListen(a: ListenAddress): string {
  return a.host.includes(":") ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
