// Which username and password the agent uses for a registry host: agent.yaml first, then Docker's
// config.json (auths, credsStore, credHelpers), else none. Read afresh on every token request, so a
// rotated password file or a new `docker login` takes effect without a restart.
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Config, RegistryCredentials } from "../config/schema.js";
import { secretModeProblem, type SecretKind } from "../config/secret-mode.js";
import { AgentError } from "../errors.js";
import { Secret, type Logger } from "../log.js";
import { dockerConfigPath, findDockerConfigAuth, parseDockerConfig, runCredentialHelper } from "./docker-config.js";
import { DOCKER_HUB_ALIASES, DOCKER_HUB_HOST } from "./reference.js";

/**
 * A username and password (answered with Basic, to the registry or its token realm), or an OAuth2
 * identity (refresh) token from `docker login`, exchanged at the realm for access tokens.
 * `source` says where they came from, for messages: `agent.yaml registries.ghcr.io`, a config.json path, a helper name.
 */
export type Credentials =
  | { kind: "password"; username: string; password: Secret; source: string }
  | { kind: "identity-token"; token: Secret; source: string };

export interface CredentialContext {
  config: Config;
  env: NodeJS.ProcessEnv;
  log: Logger;
  timeoutMs: number;
}

export async function findCredentials(host: string, ctx: CredentialContext): Promise<Credentials | undefined> {
  const entry = configEntry(ctx.config, host);
  if (entry) {
    const [key, creds] = entry;
    return { kind: "password", username: creds.username, password: await readConfiguredSecret(key, creds, ctx.env), source: `agent.yaml registries.${key}` };
  }
  return fromDockerConfig(host, ctx);
}

function configEntry(config: Config, host: string): [string, RegistryCredentials] | undefined {
  const keys = host === DOCKER_HUB_HOST ? [host, ...DOCKER_HUB_ALIASES] : [host];
  for (const key of keys) {
    const creds = config.registries[key];
    if (creds) return [key, creds];
  }
  return undefined;
}

/** The password from `passwordFile`, or from the systemd credential `$CREDENTIALS_DIRECTORY/<credential>`. */
async function readConfiguredSecret(key: string, creds: RegistryCredentials, env: NodeJS.ProcessEnv): Promise<Secret> {
  let file: string;
  if (creds.passwordFile !== undefined) {
    file = creds.passwordFile;
  } else {
    const dir = env.CREDENTIALS_DIRECTORY;
    if (!dir) {
      throw new AgentError("CONFIG_INVALID", `registries.${key}.credential is set but $CREDENTIALS_DIRECTORY is not`, {
        hint: `run the agent under systemd with LoadCredential=${creds.credential ?? ""}:<file>, or use passwordFile`,
      });
    }
    file = join(dir, creds.credential ?? "");
    return new Secret(await readSecretFile(file, `registries.${key}`, "systemd-credential"));
  }
  return new Secret(await readSecretFile(file, `registries.${key}`));
}

/**
 * Reads a secret file, refusing one whose mode is too open for its kind (config/secret-mode.ts
 * holds the rule, shared with the checks at start): a loose mode is a configuration error.
 * Checked on every read, since the file may change after start.
 */
export async function readSecretFile(file: string, owner: string, kind: SecretKind = "file"): Promise<string> {
  let text: string;
  try {
    const st = await stat(file);
    const loose = secretModeProblem(st.mode, kind);
    if (loose !== undefined) {
      throw new AgentError("CONFIG_INVALID", `secret file ${file} (${owner}) is ${loose}`, { hint: `chmod 600 ${file}` });
    }
    text = await readFile(file, "utf8");
  } catch (err) {
    if (err instanceof AgentError) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new AgentError("CONFIG_INVALID", `cannot read secret file ${file} (${owner}): ${code}`, { cause: err });
  }
  const value = text.replace(/\r?\n$/, "");
  if (value === "") throw new AgentError("CONFIG_INVALID", `secret file ${file} (${owner}) is empty`);
  return value;
}

async function fromDockerConfig(host: string, ctx: CredentialContext): Promise<Credentials | undefined> {
  const path = dockerConfigPath(ctx.config.dockerConfig, ctx.env);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    // No config.json is the normal case on a server that never ran `docker login`; an explicitly
    // configured path that is missing is a mistake worth stopping for.
    if (code === "ENOENT" && ctx.config.dockerConfig === undefined) return undefined;
    throw new AgentError("CONFIG_INVALID", `cannot read docker config ${path}: ${code ?? String(err)}`, { cause: err });
  }
  const auth = findDockerConfigAuth(parseDockerConfig(text, path), host);
  if (auth === undefined) return undefined;
  if (auth.kind === "auth") return { kind: "password", username: auth.username, password: new Secret(auth.password), source: path };
  if (auth.kind === "identity-token") return { kind: "identity-token", token: new Secret(auth.token), source: `${path} auths["${auth.key}"].identitytoken` };
  const found = await runCredentialHelper(auth.helper, auth.serverUrl, { timeoutMs: ctx.timeoutMs, env: ctx.env });
  if (found === undefined) return undefined;
  const source = `docker-credential-${auth.helper}`;
  if (found.kind === "identity-token") return { kind: "identity-token", token: new Secret(found.token), source };
  return { kind: "password", username: found.username, password: new Secret(found.password), source };
}
