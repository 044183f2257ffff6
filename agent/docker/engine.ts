// The Docker Engine boundary: dockerode is imported only under agent/docker/.
// Negotiates the API version (docs/design.md#api-version-negotiation) and reports the host platform.
import Module, { createRequire } from "node:module";
import { dirname } from "node:path";
import type Docker from "dockerode";
import { AgentError } from "../errors.js";

/** The newest Engine API version this agent was written against; the daemon's own maximum is used when lower. */
const NEWEST_KNOWN_API = "1.47";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Engine {
  docker: Docker;
  apiVersion: string;
  platform: Platform;
  serverVersion: string;
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
 * hard-coded one: Docker 29.0–29.2 refuses anything below 1.44 (docs/design.md#api-version-negotiation).
 */
export async function connectEngine(socketPath: string, timeoutMs = 10_000): Promise<Engine> {
  const Docker = loadDockerode();
  const probe = new Docker({ socketPath, timeout: timeoutMs });
  let version: Docker.DockerVersion;
  try {
    version = await probe.version();
  } catch (err) {
    throw engineUnavailable(socketPath, err);
  }
  const daemonMax = version.ApiVersion;
  const apiVersion = compareApi(daemonMax, NEWEST_KNOWN_API) < 0 ? daemonMax : NEWEST_KNOWN_API;
  const docker = new Docker({ socketPath, version: `v${apiVersion}` });
  const arm = version.Arch === "arm" ? await armVariant(docker) : undefined;
  return {
    docker,
    apiVersion,
    platform: platformOf(version.Os, version.Arch, arm),
    serverVersion: version.Version,
  };
}

/** 32-bit ARM needs the variant, which /version lacks; /info's Architecture is uname -m (armv7l, armv6l). */
async function armVariant(docker: Docker): Promise<string | undefined> {
  const info = (await docker.info()) as { Architecture?: string };
  const m = /^armv(\d)/.exec(info.Architecture ?? "");
  return m ? `v${m[1]}` : "v7";
}

export function engineUnavailable(socketPath: string, err: unknown): AgentError {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === "EACCES" ? "permission denied" : code === "ENOENT" ? "no such socket" : err instanceof Error ? err.message : String(err);
  return new AgentError("ENGINE_UNAVAILABLE", `Docker Engine at ${socketPath} is not answering: ${why}`, {
    hint:
      code === "EACCES"
        ? "the agent's user must be in the docker group (install.sh adds it)"
        : "check `systemctl status docker`, or set docker.socket in agent.yaml",
    cause: err,
  });
}

/** dockerode errors carry the HTTP status of the Engine's answer. */
export function statusOf(err: unknown): number | undefined {
  const s = (err as { statusCode?: unknown }).statusCode;
  return typeof s === "number" ? s : undefined;
}

/** The Engine's own message, without dockerode's "(HTTP code 404) no such container -" prefix. */
export function engineMessage(err: unknown): string {
  const json = (err as { json?: { message?: unknown } }).json;
  if (json && typeof json.message === "string") return json.message;
  return err instanceof Error ? err.message : String(err);
}
