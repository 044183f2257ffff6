// Where registry credentials come from, on real files and a real credential-helper program.
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Config } from "../../agent/config/schema.js";
import { silentLogger } from "../../agent/log.js";
import { findCredentials, type CredentialContext, type Credentials } from "../../agent/registry/credentials.js";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "deploy-agent-credentials-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function file(name: string, text: string, mode = 0o600): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  await chmod(path, mode);
  return path;
}

function ctx(raw: { registries?: unknown; dockerConfig?: string }, env: NodeJS.ProcessEnv = {}, timeoutMs = 2000): CredentialContext {
  const config = Config.parse({ ...raw, apps: { web: { image: "ghcr.io/acme/web", port: 80, health: { path: "/" } } } });
  return { config, env, log: silentLogger(), timeoutMs };
}

const b64 = (s: string): string => Buffer.from(s).toString("base64");

/** The credentials with their secrets revealed, for comparing; {} for none. */
function show(c: Credentials | undefined): { kind?: string; username?: string; password?: string; token?: string; source?: string } {
  if (c === undefined) return {};
  return c.kind === "password"
    ? { kind: c.kind, username: c.username, password: c.password.reveal(), source: c.source }
    : { kind: c.kind, token: c.token.reveal(), source: c.source };
}

describe("findCredentials from agent.yaml", () => {
  it("reads the password file, dropping the trailing newline", async () => {
    const pw = await file("ghcr-token", "ghp_secret\n");
    const creds = await findCredentials("ghcr.io", ctx({ registries: { "ghcr.io": { username: "octocat", passwordFile: pw } } }));
    expect(show(creds).username).toBe("octocat");
    expect(show(creds).password).toBe("ghp_secret");
    expect(show(creds).source).toBe("agent.yaml registries.ghcr.io");
    expect(JSON.stringify(creds)).not.toContain("ghp_secret");
  });

  it("refuses a password file readable by group or others, naming it", async () => {
    const pw = await file("loose-token", "ghp_secret\n", 0o644);
    await expect(findCredentials("ghcr.io", ctx({ registries: { "ghcr.io": { username: "octocat", passwordFile: pw } } }))).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      message: `secret file ${pw} (registries.ghcr.io) is readable by group or others (mode 644)`,
      hint: `chmod 600 ${pw}`,
    });
  });

  it("reads a systemd credential from $CREDENTIALS_DIRECTORY", async () => {
    const credDir = join(dir, "credentials");
    await mkdir(credDir, { recursive: true });
    await writeFile(join(credDir, "ghcr"), "from-systemd", { mode: 0o400 });
    const c = ctx({ registries: { "ghcr.io": { username: "octocat", credential: "ghcr" } } }, { CREDENTIALS_DIRECTORY: credDir });
    expect(show(await findCredentials("ghcr.io", c)).password).toBe("from-systemd");
  });

  it("reads a systemd credential that shows as 0440 (systemd's ACL for User=), but refuses one others can read", async () => {
    const credDir = join(dir, "credentials-acl");
    await mkdir(credDir, { recursive: true });
    await writeFile(join(credDir, "ghcr"), "acl-masked", { mode: 0o440 });
    await writeFile(join(credDir, "loose"), "world-readable", { mode: 0o444 });
    const env = { CREDENTIALS_DIRECTORY: credDir };
    const c = ctx({ registries: { "ghcr.io": { username: "octocat", credential: "ghcr" } } }, env);
    expect(show(await findCredentials("ghcr.io", c)).password).toBe("acl-masked");
    await expect(findCredentials("ghcr.io", ctx({ registries: { "ghcr.io": { username: "octocat", credential: "loose" } } }, env))).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      message: `secret file ${join(credDir, "loose")} (registries.ghcr.io) is readable by group or others (mode 444)`,
    });
  });

  it("reports a systemd credential without $CREDENTIALS_DIRECTORY as CONFIG_INVALID", async () => {
    await expect(findCredentials("ghcr.io", ctx({ registries: { "ghcr.io": { username: "octocat", credential: "ghcr" } } }))).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      message: "registries.ghcr.io.credential is set but $CREDENTIALS_DIRECTORY is not",
    });
  });

  it("uses a docker.io entry for Docker Hub's registry host", async () => {
    const pw = await file("hub-token", "dckr_pat");
    const creds = await findCredentials("registry-1.docker.io", ctx({ registries: { "docker.io": { username: "hubuser", passwordFile: pw } } }));
    expect(show(creds).username).toBe("hubuser");
  });

  it("wins over Docker's config.json", async () => {
    const pw = await file("ghcr-token2", "from-agent-yaml");
    const docker = await file("docker-both.json", JSON.stringify({ auths: { "ghcr.io": { auth: b64("other:from-docker") } } }));
    const creds = await findCredentials("ghcr.io", ctx({ registries: { "ghcr.io": { username: "octocat", passwordFile: pw } }, dockerConfig: docker }));
    expect(show(creds).password).toBe("from-agent-yaml");
  });
});

describe("findCredentials from Docker's config.json", () => {
  it("reads auths from the dockerConfig path", async () => {
    const docker = await file("docker-auths.json", JSON.stringify({ auths: { "ghcr.io": { auth: b64("octocat:ghp_file") } } }));
    const creds = await findCredentials("ghcr.io", ctx({ dockerConfig: docker }));
    expect(show(creds)).toEqual({ kind: "password", username: "octocat", password: "ghp_file", source: docker });
  });

  it("reads an identity token that docker login stored in auths", async () => {
    const docker = await file("docker-idt.json", JSON.stringify({ auths: { "https://ghcr.io": { auth: "", identitytoken: "idt_file" } } }));
    expect(show(await findCredentials("ghcr.io", ctx({ dockerConfig: docker })))).toEqual({
      kind: "identity-token",
      token: "idt_file",
      source: `${docker} auths["https://ghcr.io"].identitytoken`,
    });
  });

  it("reads $DOCKER_CONFIG/config.json, then ~/.docker/config.json", async () => {
    const dockerDir = join(dir, "docker-env");
    await mkdir(dockerDir, { recursive: true });
    await writeFile(join(dockerDir, "config.json"), JSON.stringify({ auths: { "ghcr.io": { auth: b64("env:one") } } }));
    expect(show(await findCredentials("ghcr.io", ctx({}, { DOCKER_CONFIG: dockerDir }))).username).toBe("env");
    const home = join(dir, "home");
    await mkdir(join(home, ".docker"), { recursive: true });
    await writeFile(join(home, ".docker", "config.json"), JSON.stringify({ auths: { "ghcr.io": { auth: b64("home:two") } } }));
    expect(show(await findCredentials("ghcr.io", ctx({}, { HOME: home }))).username).toBe("home");
  });

  it("is anonymous when there is no config.json at the default places", async () => {
    expect(await findCredentials("ghcr.io", ctx({}, { HOME: join(dir, "nobody") }))).toBeUndefined();
  });

  it("reports an explicitly configured dockerConfig that is missing", async () => {
    await expect(findCredentials("ghcr.io", ctx({ dockerConfig: join(dir, "missing.json") }))).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      message: `cannot read docker config ${join(dir, "missing.json")}: ENOENT`,
    });
  });
});

describe("findCredentials from a credential helper", () => {
  let env: NodeJS.ProcessEnv;
  let docker: string;

  beforeAll(async () => {
    const bin = join(dir, "bin");
    await mkdir(bin, { recursive: true });
    // A docker-credential-helpers protocol implementation: `get` reads the server URL on stdin.
    await writeFile(
      join(bin, "docker-credential-fake"),
      [
        "#!/bin/sh",
        'read -r server',
        'if [ "$1" = get ] && [ "$server" = ghcr.io ]; then',
        '  echo \'{"ServerURL":"ghcr.io","Username":"octocat","Secret":"ghp_helper"}\'',
        'elif [ "$1" = get ] && [ "$server" = oauth.example.com ]; then',
        '  echo \'{"ServerURL":"oauth.example.com","Username":"<token>","Secret":"idt_helper"}\'',
        'elif [ "$server" = slow.example.com ]; then exec sleep 10',
        // A helper whose failure message carries terminal escapes and goes on for 20 KB.
        "elif [ \"$server\" = noisy.example.com ]; then printf '\\033[2J\\033]0;x\\007keychain locked '; head -c 20000 /dev/zero | tr '\\0' z; exit 1",
        // A helper that never stops talking.
        "elif [ \"$server\" = flood.example.com ]; then head -c 200000 /dev/zero | tr '\\0' a; exit 0",
        "else echo 'credentials not found in native keychain'; exit 1; fi",
        "",
      ].join("\n"),
      { mode: 0o755 },
    );
    env = { PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}` };
    docker = await file("docker-helper.json", JSON.stringify({ credsStore: "fake", auths: { "ghcr.io": {} } }));
  });

  it("runs docker-credential-<credsStore> get with the host on stdin", async () => {
    const creds = await findCredentials("ghcr.io", ctx({ dockerConfig: docker }, env));
    expect({ username: show(creds).username, password: show(creds).password, source: show(creds).source }).toEqual({
      username: "octocat",
      password: "ghp_helper",
      source: "docker-credential-fake",
    });
  });

  it("takes a helper's Username <token> as an identity token", async () => {
    expect(show(await findCredentials("oauth.example.com", ctx({ dockerConfig: docker }, env)))).toEqual({
      kind: "identity-token",
      token: "idt_helper",
      source: "docker-credential-fake",
    });
  });

  it("is anonymous when the helper has no credentials for the host", async () => {
    expect(await findCredentials("quay.io", ctx({ dockerConfig: docker }, env))).toBeUndefined();
  });

  it("stops a helper that does not answer within the timeout", async () => {
    await expect(findCredentials("slow.example.com", ctx({ dockerConfig: docker }, env, 300))).rejects.toMatchObject({
      code: "REGISTRY_UNAUTHORIZED",
      message: "credential helper docker-credential-fake for slow.example.com failed: did not answer within 300ms",
    });
  });

  it("puts a failing helper's output in the message without escapes and cut to a bound", async () => {
    const err = (await findCredentials("noisy.example.com", ctx({ dockerConfig: docker }, env)).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: "REGISTRY_UNAUTHORIZED" });
    expect(err.message).toMatch(/^credential helper docker-credential-fake for noisy\.example\.com failed: keychain locked z+ \[… \d+ bytes cut\]$/);
    expect(err.message).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
    expect(Buffer.byteLength(err.message)).toBeLessThan(1000);
  });

  it("stops reading a helper that prints more than 64 KiB, naming the limit", async () => {
    await expect(findCredentials("flood.example.com", ctx({ dockerConfig: docker }, env))).rejects.toMatchObject({
      code: "REGISTRY_UNAUTHORIZED",
      message: "credential helper docker-credential-fake for flood.example.com failed: printed more than 65536 bytes",
    });
  });

  it("reports a helper that is not installed", async () => {
    const missing = await file("docker-missing-helper.json", JSON.stringify({ credHelpers: { "ghcr.io": "nonexistent" } }));
    await expect(findCredentials("ghcr.io", ctx({ dockerConfig: missing }, env))).rejects.toMatchObject({
      code: "REGISTRY_UNAUTHORIZED",
      message: "credential helper docker-credential-nonexistent for ghcr.io failed: is not installed",
    });
  });
});
