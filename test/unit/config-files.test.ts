// The checks of agent.yaml that need the file system (config/files.ts, config/volumes.ts): exact
// messages with the key path and line, reported together with the schema's problems.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkConfigText, loadDaemonConfig } from "../../agent/config/load.js";
import type { FileCheckOptions } from "../../agent/config/files.js";
import { secretModeProblem } from "../../agent/config/secret-mode.js";
import { unsafeVolumeReason } from "../../agent/config/volumes.js";
import { isAgentError } from "../../agent/errors.js";
import { appYaml } from "../support/config-text.js";

const dir = mkdtempSync(join(tmpdir(), "one-config-files-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string, mode: number): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

const daemon: FileCheckOptions = { env: {}, mode: "daemon" };

function check(yaml: string, opts: FileCheckOptions = daemon) {
  return checkConfigText(yaml, "/etc/deploy-agent/agent.yaml", opts);
}

const app = appYaml;

const registry = (entry: string) => `registries:
  ghcr.io: { username: bot, ${entry} }
${app("")}`;

describe("secret files", () => {
  it("refuses a passwordFile that does not exist", () => {
    expect(check(registry(`passwordFile: ${dir}/absent`)).errors).toEqual([`registries.ghcr.io.passwordFile: ${dir}/absent does not exist (agent.yaml line 2)`]);
  });

  it("refuses a passwordFile that group or others can read", () => {
    const pw = file("loose-token", "t0ken\n", 0o640);
    expect(check(registry(`passwordFile: ${pw}`)).errors).toEqual([
      `registries.ghcr.io.passwordFile: ${pw} is readable by group or others (mode 640); chmod 600 ${pw} (agent.yaml line 2)`,
    ]);
  });

  it("refuses a passwordFile that is a folder", () => {
    mkdirSync(join(dir, "a-folder"), { recursive: true });
    expect(check(registry(`passwordFile: ${dir}/a-folder`)).errors).toEqual([`registries.ghcr.io.passwordFile: ${dir}/a-folder is not a regular file (agent.yaml line 2)`]);
  });

  it("accepts a private passwordFile", () => {
    const pw = file("private-token", "t0ken\n", 0o600);
    expect(check(registry(`passwordFile: ${pw}`))).toMatchObject({ errors: [], warnings: [] });
  });

  it("shares one mode rule with every later read: group or others for files, others only for systemd credentials", () => {
    expect(secretModeProblem(0o100600, "file")).toBeUndefined();
    expect(secretModeProblem(0o100640, "file")).toBe("readable by group or others (mode 640)");
    expect(secretModeProblem(0o100604, "file")).toBe("readable by group or others (mode 604)");
    // systemd's ACL for a User= service shows as 0440 (src/core/exec-credential.c).
    expect(secretModeProblem(0o100440, "systemd-credential")).toBeUndefined();
    expect(secretModeProblem(0o100444, "systemd-credential")).toBe("readable by group or others (mode 444)");
  });
});

describe("systemd credentials", () => {
  const credDir = join(dir, "credentials");
  mkdirSync(credDir, { recursive: true });
  const env = { CREDENTIALS_DIRECTORY: credDir };

  it("accepts a credential that systemd wrote, with its ACL showing as 0440", () => {
    file("credentials/ghcr", "t0ken\n", 0o440);
    expect(check(registry("credential: ghcr"), { env, mode: "daemon" })).toMatchObject({ errors: [], warnings: [] });
  });

  it("refuses a credential missing from $CREDENTIALS_DIRECTORY", () => {
    expect(check(registry("credential: absent"), { env, mode: "daemon" }).errors).toEqual([
      `registries.ghcr.io.credential: ${credDir}/absent does not exist (agent.yaml line 2)`,
    ]);
  });

  it("refuses a credential that others can read", () => {
    file("credentials/loose", "t0ken\n", 0o444);
    expect(check(registry("credential: loose"), { env, mode: "daemon" }).errors).toEqual([
      `registries.ghcr.io.credential: ${credDir}/loose is readable by group or others (mode 444); chmod 600 ${credDir}/loose (agent.yaml line 2)`,
    ]);
  });

  it("refuses a credential in a daemon without $CREDENTIALS_DIRECTORY, and only warns in --check", () => {
    expect(check(registry("credential: ghcr")).errors).toEqual([
      "registries.ghcr.io.credential: $CREDENTIALS_DIRECTORY is not set: run the agent under systemd with LoadCredential=ghcr:FILE, or use passwordFile (agent.yaml line 2)",
    ]);
    expect(check(registry("credential: ghcr"), { env: {}, mode: "check" })).toMatchObject({
      errors: [],
      warnings: [
        "registries.ghcr.io.credential: not checked: $CREDENTIALS_DIRECTORY is not set here (systemd sets it for the daemon with LoadCredential=ghcr:FILE) (agent.yaml line 2)",
      ],
    });
  });
});

describe("env files", () => {
  it("refuses an env file that group or others can read, as a passwordFile", () => {
    const env = file("loose.env", "A=1\n", 0o644);
    expect(check(app(`    envFile: ${env}\n`)).errors).toEqual([`apps.web.envFile: ${env} is readable by group or others (mode 644); chmod 600 ${env} (agent.yaml line 6)`]);
  });

  it("refuses a missing env file", () => {
    expect(check(app(`    envFile: ${dir}/absent.env\n`)).errors).toEqual([`apps.web.envFile: ${dir}/absent.env does not exist (agent.yaml line 6)`]);
  });

  it("names every line of an env file whose name is not a valid variable name", () => {
    const env = file("names.env", "# comment\nGOOD=1\n\n1BAD=2\nMY-VAR=3\n  _ok = 4\nno equals sign\n", 0o600);
    expect(check(app(`    envFile: ${env}\n`)).errors).toEqual([
      `apps.web.envFile: ${env} line 4: "1BAD" is not a valid variable name (letters, digits and _, not starting with a digit) (agent.yaml line 6)`,
      `apps.web.envFile: ${env} line 5: "MY-VAR" is not a valid variable name (letters, digits and _, not starting with a digit) (agent.yaml line 6)`,
      `apps.web.envFile: ${env} line 7: expected KEY=VALUE (agent.yaml line 6)`,
    ]);
  });
});

describe("bind mounts", () => {
  const rule = (spec: string, dockerSocket = "/var/run/docker.sock", realpath = (p: string) => p) => unsafeVolumeReason(spec, { dockerSocket, realpath });
  const SOCKET_ROOT = "a container that reaches it is root on the host";

  it("refuses the Docker socket at each of its paths, and the configured one", () => {
    expect(rule("/var/run/docker.sock:/var/run/docker.sock")).toBe(`binds /var/run/docker.sock, the Docker socket: ${SOCKET_ROOT}`);
    expect(rule("/run/docker.sock:/s:ro")).toBe(`binds /run/docker.sock, the Docker socket: ${SOCKET_ROOT}`);
    expect(rule("/srv/engine.sock:/s", "/srv/engine.sock")).toBe(`binds /srv/engine.sock, the Docker socket: ${SOCKET_ROOT}`);
  });

  it("refuses the folders that hold the Docker socket", () => {
    expect(rule("/var/run:/x")).toBe(`binds /var/run, which holds the Docker socket /var/run/docker.sock: ${SOCKET_ROOT}`);
    expect(rule("/run:/x")).toBe(`binds /run, which holds the Docker socket /run/docker.sock: ${SOCKET_ROOT}`);
    expect(rule("/var:/x")).toBe(`binds /var, which holds the Docker socket /var/run/docker.sock: ${SOCKET_ROOT}`);
    expect(rule("/srv:/x", "/srv/d/engine.sock")).toBe(`binds /srv, which holds the Docker socket /srv/d/engine.sock: ${SOCKET_ROOT}`);
  });

  it("refuses /, /etc, and /proc, /sys and /var/lib/docker with what is in or above them", () => {
    expect(rule("/:/host")).toBe("binds /, the host's whole file system");
    expect(rule("/etc:/host-etc:ro")).toBe("binds /etc, the host's configuration (users, passwords, sudoers)");
    expect(rule("/proc:/p")).toBe("binds /proc, the host kernel's own interfaces");
    expect(rule("/proc/sys/kernel:/k")).toBe("binds /proc/sys/kernel, part of /proc, the host kernel's own interfaces");
    expect(rule("/sys/fs/cgroup:/c")).toBe("binds /sys/fs/cgroup, part of /sys, the host kernel's own interfaces");
    expect(rule("/var/lib/docker/volumes:/v")).toBe("binds /var/lib/docker/volumes, part of /var/lib/docker, the Engine's data (every container's files)");
    expect(rule("/var/lib:/l")).toBe("binds /var/lib, which holds /var/lib/docker, the Engine's data (every container's files)");
    expect(rule("/run/containerd/containerd.sock:/c")).toBe("binds /run/containerd/containerd.sock, part of /run/containerd, containerd's socket, which is root on the host");
  });

  it("sees through trailing slashes, doubled slashes and .. segments", () => {
    expect(rule("/etc/:/e")).toBe("binds /etc, the host's configuration (users, passwords, sudoers)");
    expect(rule("//proc//:/p")).toBe("binds /proc, the host kernel's own interfaces");
    expect(rule("/srv/app/../../var/run/:/x")).toBe(`binds /var/run, which holds the Docker socket /var/run/docker.sock: ${SOCKET_ROOT}`);
    expect(rule("/srv/..:/x")).toBe("binds /, the host's whole file system");
  });

  it("sees through symlinks", () => {
    const realpath = (p: string) => (p === "/srv/link" ? "/run" : p);
    expect(rule("/srv/link:/x", "/var/run/docker.sock", realpath)).toBe(`binds /run (/srv/link through symlinks), which holds the Docker socket /run/docker.sock: ${SOCKET_ROOT}`);
  });

  it("accepts named volumes, anonymous volumes, app folders and single files under /etc", () => {
    for (const spec of ["data:/data", "/data", "/srv/web/data:/data", "/etc/localtime:/etc/localtime:ro", "/var/lib/web:/var/lib/web", "/run/web:/run/web"]) {
      expect(rule(spec), spec).toBeUndefined();
    }
  });

  it("refuses them at start naming the app's key and line, resolving symlinks on disk", () => {
    const link = join(dir, "to-root");
    symlinkSync("/", link);
    expect(check(app(`    volumes:\n      - data:/data\n      - ${link}/proc:/p\n`)).errors).toEqual([
      `apps.web.volumes.1: "${link}/proc:/p" binds /proc (${link}/proc through symlinks), the host kernel's own interfaces; set apps.web.unsafeVolumes: true only if the app must have that (agent.yaml line 8)`,
    ]);
  });

  it("accepts them when the app sets unsafeVolumes, but never a relative bind source", () => {
    expect(check(app("    unsafeVolumes: true\n    volumes: [\"/var/run/docker.sock:/var/run/docker.sock\"]\n")).errors).toEqual([]);
    expect(check(app("    unsafeVolumes: true\n    volumes: [\"./data:/data\"]\n")).errors).toEqual([
      `apps.web.volumes.0: "./data:/data": a bind mount's source must be an absolute path (a name without "/" is a named volume) (agent.yaml line 7)`,
    ]);
  });
});

describe("the daemon's check at start", () => {
  it("lists the schema's problems and the file system's in one CONFIG_INVALID error", () => {
    const env = file("world.env", "A=1\n", 0o604);
    const path = file("agent.yaml", app(`    envFile: ${env}\n    drain: 0.5\n    volumes: ["/:/host"]\n`).replace("port: 8000", "port: 0"), 0o644);
    let message = "";
    try {
      loadDaemonConfig(path, {});
    } catch (err) {
      if (!isAgentError(err, "CONFIG_INVALID")) throw err;
      message = err.message;
    }
    expect(message.split("\n")).toEqual([
      `${path} has 4 problems:`,
      expect.stringMatching(/^ {2}apps\.web\.port: .*\(agent\.yaml line 4\)$/),
      '  apps.web.drain: expected a duration such as "10s", "500ms" or "2m" (agent.yaml line 7)',
      `  apps.web.envFile: ${env} is readable by group or others (mode 604); chmod 600 ${env} (agent.yaml line 6)`,
      `  apps.web.volumes.0: "/:/host" binds /, the host's whole file system; set apps.web.unsafeVolumes: true only if the app must have that (agent.yaml line 8)`,
    ]);
  });
});
