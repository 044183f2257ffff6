// The checks of agent.yaml that need the file system: secret files and env files present and
// private, systemd credentials present, env-file names valid, no bind mount that hands a container
// the host. They read the raw YAML tree, so they run (and report) even when the schema failed.
import { accessSync, constants, readFileSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { parseEnvFile } from "./env-file.js";
import { secretModeProblem, type SecretKind } from "./secret-mode.js";
import { asString, asTree } from "./tree.js";
import { DEFAULT_DOCKER_SOCKETS, bindSource, unsafeVolumeReason } from "./volumes.js";

export interface ConfigProblem {
  /** Key path in agent.yaml, e.g. ["apps", "web", "envFile"]. */
  path: (string | number)[];
  message: string;
  /** A warning does not stop the daemon; `--check` prints it. */
  severity: "error" | "warning";
}

export interface FileCheckOptions {
  env: NodeJS.ProcessEnv;
  /**
   * `daemon`: every check is binding. `check` (`deploy-agent --check`, run by a person): what only
   * the daemon's own environment can settle ($CREDENTIALS_DIRECTORY, files only its user can
   * read) is a warning.
   */
  mode: "daemon" | "check";
}

/** Relative paths are the schema's to report; these checks look only at absolute ones. */
const asAbsolute = (v: unknown): string | undefined => (asString(v)?.startsWith("/") ? (v as string) : undefined);

export function checkConfigFiles(raw: unknown, opts: FileCheckOptions): ConfigProblem[] {
  const root = asTree(raw) ?? {};
  const problems: ConfigProblem[] = [];
  for (const [host, entry] of Object.entries(asTree(root.registries) ?? {})) {
    const creds = asTree(entry) ?? {};
    const at = ["registries", host];
    const passwordFile = asAbsolute(creds.passwordFile);
    if (passwordFile !== undefined) problems.push(...checkPrivateFile(passwordFile, [...at, "passwordFile"], "file", opts));
    const credential = asString(creds.credential);
    if (credential !== undefined && !credential.includes("/")) problems.push(...checkCredential(credential, [...at, "credential"], opts));
  }
  for (const [i, entry] of (Array.isArray(root.notify) ? root.notify : []).entries()) {
    const secretFile = asAbsolute(asTree(entry)?.secretFile);
    if (secretFile !== undefined) problems.push(...checkPrivateFile(secretFile, ["notify", i, "secretFile"], "file", opts));
  }
  const hookSecretFile = asAbsolute(asTree(root.http)?.hookSecretFile);
  if (hookSecretFile !== undefined) problems.push(...checkPrivateFile(hookSecretFile, ["http", "hookSecretFile"], "file", opts));
  const dockerSocket = asAbsolute(asTree(root.docker)?.socket) ?? DEFAULT_DOCKER_SOCKETS[0];
  for (const [app, entry] of Object.entries(asTree(root.apps) ?? {})) {
    const cfg = asTree(entry) ?? {};
    const envFile = asAbsolute(cfg.envFile);
    if (envFile !== undefined) problems.push(...checkEnvFile(envFile, ["apps", app, "envFile"], opts));
    if (Array.isArray(cfg.volumes)) problems.push(...checkVolumes(cfg.volumes, app, cfg.unsafeVolumes === true, dockerSocket));
  }
  return problems;
}

/** Present, a regular file, private enough for `kind`, and readable by this process. */
function checkPrivateFile(file: string, path: ConfigProblem["path"], kind: SecretKind, opts: FileCheckOptions): ConfigProblem[] {
  const problem = (message: string, severity: ConfigProblem["severity"] = "error") => [{ path, message, severity }];
  let mode: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) return problem(`${file} is not a regular file`);
    mode = st.mode;
  } catch (err) {
    const code = errnoOf(err);
    if (code === "ENOENT") return problem(`${file} does not exist`);
    return problem(`cannot read ${file} (${code})`, code === "EACCES" ? unreadableSeverity(opts) : "error");
  }
  const loose = secretModeProblem(mode, kind);
  if (loose !== undefined) return problem(`${file} is ${loose}; chmod 600 ${file}`);
  try {
    accessSync(file, constants.R_OK);
  } catch (err) {
    return problem(`cannot read ${file} (${errnoOf(err)}) as uid ${process.getuid?.() ?? "?"}`, unreadableSeverity(opts));
  }
  return [];
}

/** A person running --check may not be the daemon's user; the daemon itself must read the file. */
function unreadableSeverity(opts: FileCheckOptions): ConfigProblem["severity"] {
  return opts.mode === "check" ? "warning" : "error";
}

function checkCredential(name: string, path: ConfigProblem["path"], opts: FileCheckOptions): ConfigProblem[] {
  const dir = opts.env.CREDENTIALS_DIRECTORY;
  if (dir === undefined || dir === "") {
    return [
      opts.mode === "check"
        ? { path, message: `not checked: $CREDENTIALS_DIRECTORY is not set here (systemd sets it for the daemon with LoadCredential=${name}:FILE)`, severity: "warning" }
        : { path, message: `$CREDENTIALS_DIRECTORY is not set: run the agent under systemd with LoadCredential=${name}:FILE, or use passwordFile`, severity: "error" },
    ];
  }
  return checkPrivateFile(join(dir, name), path, "systemd-credential", opts);
}

function checkEnvFile(file: string, path: ConfigProblem["path"], opts: FileCheckOptions): ConfigProblem[] {
  const access = checkPrivateFile(file, path, "file", opts);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    // Whatever stopped the read was named above (missing, unreadable); say it once.
    return access.length > 0 ? access : [{ path, message: `cannot read ${file} (${errnoOf(err)})`, severity: "error" }];
  }
  return [...access, ...parseEnvFile(text, file).problems.map((message) => ({ path, message, severity: "error" as const }))];
}

function checkVolumes(volumes: unknown[], app: string, unsafe: boolean, dockerSocket: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  volumes.forEach((spec, i) => {
    if (typeof spec !== "string") return;
    const path = ["apps", app, "volumes", i];
    const source = bindSource(spec);
    if (source !== undefined && !source.startsWith("/")) {
      problems.push({ path, message: `"${spec}": a bind mount's source must be an absolute path (a name without "/" is a named volume)`, severity: "error" });
      return;
    }
    if (unsafe) return;
    const why = unsafeVolumeReason(spec, { dockerSocket, realpath: realpathOfExisting });
    if (why !== undefined) {
      problems.push({ path, message: `"${spec}" ${why}; set apps.${app}.unsafeVolumes: true only if the app must have that`, severity: "error" });
    }
  });
  return problems;
}

/**
 * Resolves symlinks in the part of `path` that exists, keeping the rest: a mount follows symlinks
 * (mount(2)), so `/srv/link -> /var/run` binds /var/run. The part that does not exist yet is
 * kept as written (the Engine creates it as a folder).
 */
export function realpathOfExisting(path: string): string {
  const rest: string[] = [];
  let at = path;
  for (;;) {
    try {
      return join(realpathSync(at), ...rest.reverse());
    } catch {
      if (dirname(at) === at) return path;
      rest.push(basename(at));
      at = dirname(at);
    }
  }
}

function errnoOf(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? String(err);
}
