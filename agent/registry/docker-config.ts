// Docker's client config (`~/.docker/config.json`): `auths`, `credsStore` and `credHelpers`, read the
// way docker/cli's `configfile` does, so that `docker login` on the host is enough for the agent.
import { execFile } from "node:child_process";
import { homedir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { AgentError } from "../errors.js";
import { cleanText } from "../text.js";
import { DOCKER_HUB_ALIASES, DOCKER_HUB_HOST } from "./reference.js";

/** docker/cli `cli/config/configfile/file.go` ConfigFile, the fields the agent reads. */
export const DockerConfigFile = z.looseObject({
  auths: z.record(z.string(), z.looseObject({ auth: z.string().optional(), identitytoken: z.string().optional() })).optional(),
  credsStore: z.string().optional(),
  credHelpers: z.record(z.string(), z.string()).optional(),
});
export type DockerConfigFile = z.infer<typeof DockerConfigFile>;

/** Where to find credentials for one host in a config file. */
export type DockerConfigAuth =
  | { kind: "auth"; username: string; password: string; key: string }
  /** `docker login` to a registry with OAuth2 stores a refresh token here instead of the password. */
  | { kind: "identity-token"; token: string; key: string }
  | { kind: "helper"; helper: string; serverUrl: string };

/** What a credential helper answered: a username and password, or an identity token (Username `<token>`). */
export type HelperCredentials = { kind: "password"; username: string; password: string } | { kind: "identity-token"; token: string };

/** Docker Hub's key in config.json is the v1 index URL, for historical reasons (docker/cli `registry.IndexServer`). */
export const DOCKER_HUB_SERVER_KEY = "https://index.docker.io/v1/";

/** `dockerConfig` from agent.yaml, else `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`. */
export function dockerConfigPath(dockerConfig: string | undefined, env: NodeJS.ProcessEnv): string {
  if (dockerConfig !== undefined) return dockerConfig;
  if (env.DOCKER_CONFIG) return join(env.DOCKER_CONFIG, "config.json");
  return join(env.HOME || homedir(), ".docker", "config.json");
}

/** docker/cli `ConvertToHostname`: `https://ghcr.io/v1/` → `ghcr.io`. */
export function serverKeyHost(key: string): string {
  const noScheme = key.replace(/^[a-z][a-z0-9+.-]*:\/\//i, "");
  return (noScheme.split("/")[0] ?? "").toLowerCase();
}

function isDockerHub(host: string): boolean {
  return host === DOCKER_HUB_HOST || DOCKER_HUB_ALIASES.includes(host) || host === serverKeyHost(DOCKER_HUB_SERVER_KEY);
}

/** Parses config.json text; `path` names the file in errors. */
export function parseDockerConfig(text: string, path: string): DockerConfigFile {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new AgentError("CONFIG_INVALID", `${path} is not valid JSON`, { cause: err, hint: "fix or remove the file, or set dockerConfig in agent.yaml" });
  }
  const parsed = DockerConfigFile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join(".") || "(top level)";
    throw new AgentError("CONFIG_INVALID", `${path}: ${where}: ${issue?.message ?? "unexpected shape"}`, {
      hint: "fix or remove the file, or set dockerConfig in agent.yaml",
    });
  }
  return parsed.data;
}

/**
 * Where the config says credentials for `host` are, following docker/cli `GetCredentialsStore`:
 * a `credHelpers` entry for the host wins, then `credsStore`; only without either is `auths[host].auth`
 * read. Keys are compared by hostname, so `https://ghcr.io` and `ghcr.io` both match `ghcr.io`.
 */
export function findDockerConfigAuth(file: DockerConfigFile, host: string): DockerConfigAuth | undefined {
  const wanted = host.toLowerCase();
  const hub = isDockerHub(wanted);
  const matches = (key: string): boolean => {
    const keyHost = serverKeyHost(key);
    return hub ? isDockerHub(keyHost) : keyHost === wanted;
  };
  const serverUrl = hub ? DOCKER_HUB_SERVER_KEY : host;
  const helperEntry = Object.entries(file.credHelpers ?? {}).find(([key]) => matches(key));
  if (helperEntry) return { kind: "helper", helper: helperEntry[1], serverUrl: helperEntry[0] };
  if (file.credsStore) return { kind: "helper", helper: file.credsStore, serverUrl };
  const authEntry = Object.entries(file.auths ?? {}).find(([key, value]) => matches(key) && (value.auth || value.identitytoken));
  if (!authEntry) return undefined;
  const [key, value] = authEntry;
  // docker/cli: an entry's identity token is used in place of its password (types.AuthConfig IdentityToken).
  if (value.identitytoken) return { kind: "identity-token", token: value.identitytoken, key };
  const decoded = Buffer.from(value.auth ?? "", "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon <= 0) {
    throw new AgentError("CONFIG_INVALID", `docker config auths["${key}"].auth is not base64 of user:password`, {
      hint: `run docker login ${host} again`,
    });
  }
  return { kind: "auth", username: decoded.slice(0, colon), password: decoded.slice(colon + 1), key };
}

/** Credentials JSON is a few hundred bytes; a helper printing more is stopped rather than read on. */
export const HELPER_OUTPUT_MAX_BYTES = 64 * 1024;

/** The helper's output in a message: its own words, stripped of terminal control and cut short. */
const HELPER_MESSAGE_MAX_BYTES = 500;

/** Why a helper run failed, in words fit for a message; never the raw output of the helper. */
function helperFailure(failure: Error & { code?: unknown; killed?: boolean }, stdout: string, stderr: string, timeoutMs: number): string {
  if (failure.code === "ERR_CHILD_PROCESS_STDIO_MAXBUFFER") return `printed more than ${HELPER_OUTPUT_MAX_BYTES} bytes`;
  if (failure.killed) return `did not answer within ${timeoutMs}ms`;
  if (failure.code === "ENOENT") return "is not installed";
  // docker-credential-helpers print their errors on stdout; others use stderr.
  const said = cleanText((stdout.trim() || stderr.trim()).replace(/\s+/g, " "), HELPER_MESSAGE_MAX_BYTES);
  return said !== "" ? said : `exited with status ${String(failure.code ?? "?")}`;
}

/** docker-credential-helpers `credentials.Credentials` as printed by `get`. */
const HelperOutput = z.object({ ServerURL: z.string().optional(), Username: z.string(), Secret: z.string() });

/**
 * Runs `docker-credential-<helper> get` with the server URL on stdin. A "not found" answer means no
 * credentials (anonymous); any other failure, including the timeout, throws REGISTRY_UNAUTHORIZED.
 */
export async function runCredentialHelper(
  helper: string,
  serverUrl: string,
  opts: { timeoutMs: number; env: NodeJS.ProcessEnv },
): Promise<HelperCredentials | undefined> {
  if (!/^[A-Za-z0-9._-]+$/.test(helper)) {
    throw new AgentError("CONFIG_INVALID", `docker config names credential helper "${helper}", which is not a plain name`);
  }
  const program = `docker-credential-${helper}`;
  const { stdout, stderr, failure } = await new Promise<{ stdout: string; stderr: string; failure?: Error & { code?: unknown; killed?: boolean } }>(
    (resolve) => {
      const child = execFile(program, ["get"], { timeout: opts.timeoutMs, env: opts.env, maxBuffer: HELPER_OUTPUT_MAX_BYTES }, (err, out, errOut) =>
        resolve(err ? { stdout: String(out), stderr: String(errOut), failure: err } : { stdout: String(out), stderr: String(errOut) }),
      );
      child.stdin?.on("error", () => undefined); // the helper may exit before reading stdin
      child.stdin?.end(serverUrl);
    },
  );
  if (failure) {
    if (/credentials not found/i.test(stdout)) return undefined;
    throw new AgentError("REGISTRY_UNAUTHORIZED", `credential helper ${program} for ${serverUrl} failed: ${helperFailure(failure, stdout, stderr, opts.timeoutMs)}`, {
      cause: failure,
      hint: `check that ${program} works (echo ${serverUrl} | ${program} get), or set registries in agent.yaml`,
    });
  }
  let out: z.infer<typeof HelperOutput>;
  try {
    out = HelperOutput.parse(JSON.parse(stdout));
  } catch (err) {
    throw new AgentError("REGISTRY_UNAUTHORIZED", `credential helper ${program} printed something other than credentials JSON`, { cause: err });
  }
  // docker-credential-helpers: Username "<token>" marks Secret as an identity token (credentials.go).
  if (out.Username === "<token>") return { kind: "identity-token", token: out.Secret };
  return { kind: "password", username: out.Username, password: out.Secret };
}
