// The Docker Engine boundary: dockerode is imported only under agent/docker/, and every Engine call
// goes through it with a deadline. Negotiates the API version and reports the host platform.
import Module, { createRequire } from "node:module";
import { dirname } from "node:path";
import type Docker from "dockerode";
import { AgentError } from "../errors.js";
import { EngineClient, engineUnavailable } from "./client.js";
import { OwnedEngine } from "./owned-engine.js";
import { OwnedSwarm } from "./owned-swarm.js";
import type { Owner } from "./types.js";

export { OwnedEngine } from "./owned-engine.js";
export { OwnedSwarm } from "./owned-swarm.js";
export type { OwnContainerEvent } from "./container-events.js";
export { openEngineStreams } from "./client.js";
export type * from "./types.js";
export type { OneOffOptions, OneOffResult } from "./one-off.js";
export type { LogLine, LogOptions } from "./logs.js";

/** The newest Engine API version this agent was written against; the daemon's own maximum is used when lower. */
const NEWEST_KNOWN_API = "1.47";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** A connected Engine. Its operations are reached through `ownedBy`, so each knows whose containers it may touch. */
export interface EngineConnection {
  apiVersion: string;
  platform: Platform;
  serverVersion: string;
  socketPath: string;
  /** The Engine as an agent with this identity may use it. */
  ownedBy(owner: Owner): OwnedEngine;
  /** The same Engine's Swarm services, for `backend: swarm` apps. */
  swarmOwnedBy(owner: Owner): OwnedSwarm;
}

export interface ConnectOptions {
  /** Deadline of every non-streaming Engine call (config docker.timeout). */
  timeoutMs?: number;
}

function compareApi(a: string, b: string): number {
  const [am = 0, an = 0] = a.split(".").map(Number);
  const [bm = 0, bn = 0] = b.split(".").map(Number);
  return am - bm || an - bn;
}

/** Maps Go's GOARCH (from /version) and `uname -m` style names to OCI platform fields. */
export function platformOf(os: string, arch: string, variant?: string): Platform {
  switch (arch) {
    case "x86_64":
      return { os, architecture: "amd64" };
    case "aarch64":
      return { os, architecture: "arm64" };
    case "armv7l":
      return { os, architecture: "arm", variant: "v7" };
    case "armv6l":
      return { os, architecture: "arm", variant: "v6" };
    default:
      return variant ? { os, architecture: arch, variant } : { os, architecture: arch };
  }
}

const requireHere = createRequire(import.meta.url);
let DockerClass: typeof Docker | undefined;

/**
 * Loads dockerode once, first putting light stand-ins in the require cache for two dependencies it
 * loads eagerly but the agent never uses. ssh2 (the `ssh://` transport) instantiates an emscripten
 * poly1305 module that reserves 16 MB at load; @grpc/grpc-js and @grpc/proto-loader serve BuildKit
 * sessions for image builds. Both are only touched inside functions the agent never calls, and
 * together they are a third of the daemon's idle memory on a Pi (measured with `npm run bench`).
 */
export function loadDockerode(): typeof Docker {
  if (DockerClass) return DockerClass;
  const unused = (what: string) => () => {
    throw new AgentError("ENGINE_UNAVAILABLE", `${what} is not supported by deploy-agent: set docker.socket to the Engine's Unix socket`);
  };
  const stub = (name: string, from: string, exports: object) => {
    const path = requireHere.resolve(name, { paths: [dirname(requireHere.resolve(from))] });
    if (requireHere.cache[path]) return;
    const m = new Module(path);
    m.filename = path;
    m.loaded = true;
    m.exports = exports;
    requireHere.cache[path] = m;
  };
  stub("ssh2", "docker-modem", { Client: unused("Docker over SSH") });
  stub("@grpc/grpc-js", "dockerode", {});
  stub("@grpc/proto-loader", "dockerode", { loadSync: unused("BuildKit sessions") });
  DockerClass = requireHere("dockerode") as typeof Docker;
  return DockerClass;
}

/**
 * Connects to the Engine on a Unix socket and pins the API version to min(daemon's, ours), never a
 * hard-coded one: Docker 29.0–29.2 refuses anything below 1.44
 * (https://docs.docker.com/reference/api/engine/#api-version-matrix).
 */
export async function connectEngine(socketPath: string, opts: ConnectOptions = {}): Promise<EngineConnection> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const Docker = loadDockerode();
  const probe = new EngineClient(new Docker({ socketPath }), socketPath, timeoutMs);
  let version: Docker.DockerVersion;
  try {
    // dockerode's typings of version() and info() take no options; the client's deadline still bounds them.
    version = await probe.call("GET /version", () => probe.docker.version());
  } catch (err) {
    throw err instanceof AgentError ? err : engineUnavailable(socketPath, err);
  }
  const daemonMax = version.ApiVersion;
  const apiVersion = compareApi(daemonMax, NEWEST_KNOWN_API) < 0 ? daemonMax : NEWEST_KNOWN_API;
  const client = new EngineClient(new Docker({ socketPath, version: `v${apiVersion}` }), socketPath, timeoutMs);
  const arm = version.Arch === "arm" ? await armVariant(client) : undefined;
  return {
    apiVersion,
    platform: platformOf(version.Os, version.Arch, arm),
    serverVersion: version.Version,
    socketPath,
    ownedBy: (owner) => new OwnedEngine(client, owner),
    swarmOwnedBy: (owner) => new OwnedSwarm(client, owner),
  };
}

/** 32-bit ARM needs the variant, which /version lacks; /info's Architecture is uname -m (armv7l, armv6l). */
async function armVariant(c: EngineClient): Promise<string | undefined> {
  const info = (await c.call("GET /info", () => c.docker.info())) as { Architecture?: string };
  const m = /^armv(\d)/.exec(info.Architecture ?? "");
  return m ? `v${m[1]}` : "v7";
}
