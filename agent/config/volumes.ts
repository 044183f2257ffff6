// Which `volumes` entries would hand a container the host: a bind mount of the Docker socket (or
// a folder above it), of /, /etc, or of the kernel's and the Engine's own trees. Refused at start
// unless the app sets `unsafeVolumes: true`.
import { posix } from "node:path";

/** The Engine's socket at its usual paths; /var/run is a symlink to /run on current distributions. */
export const DEFAULT_DOCKER_SOCKETS = ["/var/run/docker.sock", "/run/docker.sock"] as const;

/**
 * Trees that are unsafe as a whole: the host's kernel interfaces, the Engine's data (every
 * container's files and its config), and containerd's socket, which is root as much as Docker's.
 * Binding them, anything under them, or a folder above them exposes them.
 */
const UNSAFE_TREES = ["/proc", "/sys", "/var/lib/docker", "/run/containerd", "/var/run/containerd"];
/** Unsafe exactly: a single file under /etc (/etc/localtime, a CA bundle) is a common, harmless bind. */
const UNSAFE_EXACT = ["/etc"];

export interface VolumeRuleContext {
  /** `docker.socket` from the config. */
  dockerSocket: string;
  /** Resolves symlinks of a path that may not exist (identity where there is no file system). */
  realpath: (path: string) => string;
}

/** Why the bind mount `spec` (`SRC:DST[:MODE]`, as `docker run -v`) is unsafe, or undefined. */
export function unsafeVolumeReason(spec: string, ctx: VolumeRuleContext): string | undefined {
  const source = bindSource(spec);
  if (source === undefined) return undefined;
  const written = normalise(source);
  const resolved = normalise(ctx.realpath(written));
  const sockets = [ctx.dockerSocket, ...DEFAULT_DOCKER_SOCKETS].map(normalise);
  const socketSet = [...new Set([...sockets, ...sockets.map((s) => normalise(ctx.realpath(s)))])];
  for (const path of resolved === written ? [written] : [written, resolved]) {
    const shown = path === written ? path : `${path} (${written} through symlinks)`;
    const why = reasonFor(path, socketSet);
    if (why !== undefined) return `binds ${shown}, ${why}`;
  }
  return undefined;
}

/** One `volumes` entry as `docker run -v` reads it: `DST` (an anonymous volume), `SRC:DST` or `SRC:DST:MODE`. */
export interface VolumeEntry {
  /** A path with "/" (a bind mount) or a volume's name; absent for an anonymous volume. */
  source?: string;
  target: string;
  /** MODE split at its commas (`ro`, `z`, `rshared`, …). */
  options: string[];
  bind: boolean;
}

export function parseVolume(spec: string): VolumeEntry {
  const [first = "", second, ...rest] = spec.split(":");
  if (second === undefined) return { target: first, options: [], bind: false };
  const options = rest.join(":").split(",").filter((o) => o !== "");
  return { source: first, target: second, options, bind: first.includes("/") };
}

/** A bind mount's source (a path with "/"), or undefined for a named or anonymous volume. */
export function bindSource(spec: string): string | undefined {
  const v = parseVolume(spec);
  return v.bind ? v.source : undefined;
}

function reasonFor(path: string, sockets: string[]): string | undefined {
  if (path === "/") return "the host's whole file system";
  const socket = sockets.find((s) => s === path || isUnder(s, path));
  if (socket !== undefined) {
    const what = socket === path ? "the Docker socket" : `which holds the Docker socket ${socket}`;
    return `${what}: a container that reaches it is root on the host`;
  }
  if (UNSAFE_EXACT.includes(path)) return "the host's configuration (users, passwords, sudoers)";
  const tree = UNSAFE_TREES.find((t) => t === path || isUnder(path, t) || isUnder(t, path));
  if (tree === undefined) return undefined;
  if (path === tree) return treeMeaning(tree);
  return isUnder(path, tree) ? `part of ${tree}, ${treeMeaning(tree)}` : `which holds ${tree}, ${treeMeaning(tree)}`;
}

function treeMeaning(tree: string): string {
  if (tree === "/proc" || tree === "/sys") return "the host kernel's own interfaces";
  if (tree === "/var/lib/docker") return "the Engine's data (every container's files)";
  return "containerd's socket, which is root on the host";
}

/** True when `path` lies strictly below `folder`. */
function isUnder(path: string, folder: string): boolean {
  return path.startsWith(folder === "/" ? "/" : `${folder}/`) && path !== folder;
}

/** `/srv/../var/run/` → `/var/run`: the path the mount really names, without `..` or a trailing "/". */
function normalise(path: string): string {
  const n = posix.normalize(path);
  return n.length > 1 && n.endsWith("/") ? n.slice(0, -1) : n;
}
