// Image references as the registry API needs them: which host to call, over which scheme, and
// which repository path to put after /v2/. Tags and digests are passed separately, never parsed here.
import { AgentError } from "../errors.js";

export interface ImageReference {
  /** Host (and port) the client calls, e.g. `ghcr.io`, `127.0.0.1:5000`, `registry-1.docker.io`. */
  host: string;
  /** Repository path inside the registry, e.g. `acme/web`, `library/nginx`. */
  repository: string;
  scheme: "http" | "https";
}

/** Where Docker Hub's registry API lives; `docker.io` itself only redirects. */
export const DOCKER_HUB_HOST = "registry-1.docker.io";

/** Names under which people and Docker's config.json refer to Docker Hub. */
export const DOCKER_HUB_ALIASES: readonly string[] = ["docker.io", "index.docker.io", DOCKER_HUB_HOST];

// distribution reference grammar (distribution/reference/regexp.go): path components are
// lowercase alphanumerics joined by one `.`, one or two `_`, or any number of `-`.
const COMPONENT_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

/**
 * Parses `ghcr.io/acme/web`, `127.0.0.1:5000/x/y`, `nginx` or `docker.io/acme/web`.
 * The first component is a host only when it contains `.` or `:` or is `localhost`, as Docker decides
 * (distribution/reference `splitDockerDomain`); otherwise the image lives on Docker Hub.
 */
export function parseImageReference(image: string): ImageReference {
  const bad = (why: string): AgentError =>
    new AgentError("BAD_ARGUMENT", `image "${image}" ${why}`, {
      hint: "write images as host/owner/name without tag or digest, e.g. ghcr.io/acme/web",
    });
  if (image.includes("@")) throw bad("must not carry a digest");
  const parts = image.split("/");
  const first = parts[0] ?? "";
  let host: string;
  let path: string[];
  if (parts.length > 1 && (first.includes(".") || first.includes(":") || first === "localhost")) {
    host = first;
    path = parts.slice(1);
  } else {
    host = DOCKER_HUB_HOST;
    path = parts;
  }
  if (!HOST_RE.test(host)) throw bad(`has an invalid registry host "${host}"`);
  const last = path[path.length - 1] ?? "";
  if (last.includes(":")) throw bad("must not carry a tag; put the tag in track");
  if (path.length === 0 || !path.every((c) => COMPONENT_RE.test(c))) {
    throw bad("has an invalid repository path (lowercase letters, digits and . _ - separators only)");
  }
  if (DOCKER_HUB_ALIASES.includes(host.toLowerCase())) {
    host = DOCKER_HUB_HOST;
    if (path.length === 1) path = ["library", ...path];
  }
  return { host, repository: path.join("/"), scheme: isLoopbackHost(host) ? "http" : "https" };
}

/** Strips the port: `127.0.0.1:5000` → `127.0.0.1`, `[::1]:5000` → `::1`. */
export function hostname(host: string): string {
  if (host.startsWith("[")) return host.slice(1, host.indexOf("]"));
  const colon = host.lastIndexOf(":");
  return colon === -1 ? host : host.slice(0, colon);
}

/**
 * Loopback registries are spoken to over plain HTTP, as dockerd treats 127.0.0.0/8 as insecure by
 * default (docs/design.md#token-auth-in-the-tests); everything else must be HTTPS so credentials never travel in clear.
 */
export function isLoopbackHost(host: string): boolean {
  const name = hostname(host).toLowerCase();
  return name === "localhost" || name === "::1" || /^127(?:\.\d{1,3}){3}$/.test(name);
}

/** Base URL of the registry API for a reference, e.g. `https://ghcr.io`. */
export function registryOrigin(ref: ImageReference): string {
  return `${ref.scheme}://${ref.host}`;
}

/** Throws BAD_ARGUMENT naming `argument` unless `tag` is a valid tag (distribution-spec `<reference>` as a tag). */
export function validateTag(tag: string, argument = "tag"): string {
  if (!TAG_RE.test(tag)) {
    throw new AgentError("BAD_ARGUMENT", `${argument} "${tag}" is not a valid image tag`, {
      hint: "a tag is 1-128 characters of letters, digits, _ . and -, not starting with . or -",
    });
  }
  return tag;
}
