import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkConfigFiles } from "../../agent/config/files.js";
import { parseConfig } from "../../agent/config/load.js";
import { readSigningKey } from "../../agent/config/secret-file.js";
import { appYaml, configProblems } from "../support/config-text.js";

const minimal = appYaml("");

describe("the http section of agent.yaml", () => {
  const dir = mkdtempSync(join(tmpdir(), "hh-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("opens no listener unless http.listen is set", () => {
    expect(parseConfig(minimal, "/etc/deploy-agent/agent.yaml").http).toEqual({});
    expect(parseConfig(`${minimal}http:\n`, "/etc/deploy-agent/agent.yaml").http).toEqual({});
  });

  it("takes an IP:port and a hook secret file", () => {
    const http = parseConfig(`${minimal}http: { listen: "[::1]:9181", hookSecretFile: /etc/deploy-agent/hook.secret }\n`, "/etc/deploy-agent/agent.yaml").http;
    expect(http).toEqual({ listen: "[::1]:9181", hookSecretFile: "/etc/deploy-agent/hook.secret" });
  });

  it("refuses a host name or garbage in http.listen, naming the field", () => {
    expect(configProblems(`${minimal}http: { listen: "localhost:9181" }\n`)).toMatch(/http\.listen: a host name is not accepted, only an IP address/);
    expect(configProblems(`${minimal}http: { listen: "9181" }\n`)).toMatch(/http\.listen: expected host:port with an IP address/);
    expect(configProblems(`${minimal}http: { listen: 9181 }\n`)).toMatch(/http\.listen: expected host:port/);
  });

  it("refuses hookSecretFile without listen, and a relative one", () => {
    expect(configProblems(`${minimal}http: { hookSecretFile: /etc/deploy-agent/hook.secret }\n`)).toMatch(/http\.hookSecretFile: needs http\.listen/);
    expect(configProblems(`${minimal}http: { listen: "127.0.0.1:9181", hookSecretFile: hook.secret }\n`)).toMatch(/http\.hookSecretFile: must be an absolute path/);
  });

  it("refuses a hook secret file that group or others can read", () => {
    const file = join(dir, "hook.secret");
    writeFileSync(file, "k\n", { mode: 0o644 });
    const problems = checkConfigFiles({ http: { listen: "127.0.0.1:9181", hookSecretFile: file } }, { env: {}, mode: "daemon" });
    expect(problems).toEqual([{ path: ["http", "hookSecretFile"], message: `${file} is readable by group or others (mode 644); chmod 600 ${file}`, severity: "error" }]);
  });

  it("refuses an empty hook secret file at start, and ignores one trailing newline", async () => {
    const empty = join(dir, "empty.secret");
    writeFileSync(empty, "\n", { mode: 0o600 });
    await expect(readSigningKey(empty, "http.hookSecretFile")).rejects.toMatchObject({
      code: "CONFIG_INVALID",
      message: `http.hookSecretFile: ${empty} is empty; put the signing key in it, or leave hookSecretFile out`,
    });
    const file = join(dir, "key.secret");
    writeFileSync(file, "k3y\n", { mode: 0o600 });
    expect((await readSigningKey(file, "http.hookSecretFile")).reveal()).toBe("k3y");
  });
});
