// A Debian trixie container booted with /sbin/init (image from make-rootfs.sh), talking to the
// host's Engine through the bind-mounted docker.sock, with the checkout mounted read-only at /src:
// the support code of systemd.test.ts.
import { execFile } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { TEST_REGISTRY, TEST_RUN_LABEL, testRunId } from "../support/images.js";

const HERE = dirname(fileURLToPath(import.meta.url));
/** The checkout to install; DEPLOY_AGENT_CHECKOUT points it at another tree (e.g. an unpacked release). */
export const CHECKOUT = resolve(process.env.DEPLOY_AGENT_CHECKOUT ?? join(HERE, "../.."));
const IMAGE = process.env.DEPLOY_AGENT_SYSTEMD_IMAGE ?? "deploy-agent-test/systemd-trixie:1";
const DOCKER_SOCK = "/var/run/docker.sock";
export const UNIT = "deploy-agent.service";
export const MINUTE = 60_000;

/** agent.yaml with one app tracking a tag the (absent) test registry does not have: every poll fails, the daemon stays up. */
export function missingTagYaml(writer: string, app: string, schedule: string): string {
  return `# written by ${writer}
apps:
  ${app}:
    image: ${TEST_REGISTRY}/deploy-agent-systemd-test/${app}
    track: does-not-exist
    schedule: "${schedule}"
    port: 8080
    health:
      path: /health
`;
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], timeoutMs = 2 * MINUTE): Promise<Run> {
  return new Promise((resolvePromise) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
      resolvePromise({ code, stdout, stderr: err !== null && stderr === "" ? err.message : stderr });
    });
  });
}

export async function must(cmd: string, args: string[], timeoutMs?: number): Promise<string> {
  const r = await run(cmd, args, timeoutMs);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited with ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  }
  return r.stdout;
}

/** Polls `probe` until it returns a value other than undefined; the error names the deadline and the last result. */
export async function until<T>(what: string, deadlineMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    const r = await probe().catch((err: unknown) => ((last = err), undefined));
    if (r !== undefined) return r;
    if (Date.now() > end) throw new Error(`${what}: not reached within ${deadlineMs / 1000}s (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * The host's extra CA bundle, passed to npm inside the container: where the npm registry is reached
 * through a TLS-inspecting proxy, its CA is trusted on the host only (the Debian mirror is plain HTTP).
 */
const HOST_CA = process.env.NODE_EXTRA_CA_CERTS;
const CONTAINER_CA = "/usr/local/share/deploy-agent-test/host-ca.crt";
const EXEC_ENV = HOST_CA !== undefined && existsSync(HOST_CA) ? ["-e", `NODE_EXTRA_CA_CERTS=${CONTAINER_CA}`] : [];
const MOUNT_CA = EXEC_ENV.length > 0 ? ["-v", `${HOST_CA}:${CONTAINER_CA}:ro`] : [];

/** One booted container; `name` tells apart the test files that each boot their own. */
export class Booted {
  readonly container: string;

  constructor(name: string) {
    this.container = `deploy-agent-${name}-${testRunId()}`;
  }

  /** Runs a bash script in the container. */
  sh(script: string, timeoutMs?: number): Promise<Run> {
    return run("docker", this.#execArgs(script), timeoutMs);
  }

  /** Runs a bash script in the container; throws on a non-zero exit. */
  mustSh(script: string, timeoutMs?: number): Promise<string> {
    return must("docker", this.#execArgs(script), timeoutMs);
  }

  async unitProps(...names: string[]): Promise<Record<string, string>> {
    return this.unitPropsOf(UNIT, ...names);
  }

  async unitPropsOf(unit: string, ...names: string[]): Promise<Record<string, string>> {
    const out = await this.mustSh(`systemctl show ${unit} ${names.map((n) => `-p ${n}`).join(" ")}`);
    return Object.fromEntries(out.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  }

  async journal(extra = ""): Promise<Array<Record<string, string>>> {
    const out = await this.mustSh(`journalctl -u deploy-agent -o json --no-pager ${extra}`);
    return out
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => JSON.parse(l) as Record<string, string>)
      .filter((e) => e.SYSLOG_IDENTIFIER === "deploy-agent");
  }

  /** Boots the container (building its image first if missing) and waits until systemd is up. */
  async boot(): Promise<void> {
    await ensureImage();
    const dockerGid = statSync(DOCKER_SOCK).gid;
    await must("docker", [
      "run", "-d", "--name", this.container,
      "--label", `${TEST_RUN_LABEL}=${testRunId()}`,
      "--cap-add", "SYS_ADMIN",
      "--security-opt", "seccomp=unconfined",
      "--cgroupns=host",
      "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
      "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
      "-v", `${DOCKER_SOCK}:/run/docker.sock`,
      "-v", `${CHECKOUT}:/src:ro`,
      ...MOUNT_CA,
      IMAGE, "/sbin/init", ...(cgroupV1() ? ["SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1"] : []),
    ]);
    await until("systemd boot", 2 * MINUTE, async () => {
      const r = await this.sh("systemctl is-system-running --wait");
      return ["running", "degraded"].includes(r.stdout.trim()) ? r.stdout : undefined;
    });
    // Booted by the kernel, systemd makes / MS_SHARED; under a container manager it leaves propagation
    // as found (src/shared/mount-setup.c), and Docker's is private. LoadCredential= mounts each unit's
    // /run/credentials/<unit> from a child in its own mount namespace ((sd-mkdcreds)); without shared
    // propagation that mount never reaches the unit, which sees $CREDENTIALS_DIRECTORY missing, and
    // systemd logs nothing. Shared, as on a real host.
    await this.mustSh("mount --make-rshared /");
    // The socket's group as the container sees it: same gid as on the host, named docker.
    await this.mustSh(`getent group docker >/dev/null || groupadd --non-unique --gid ${dockerGid} docker`);
  }

  #execArgs(script: string): string[] {
    return ["exec", ...EXEC_ENV, this.container, "bash", "-c", script];
  }
}

/** The lock make-rootfs.sh runs under, here and in rootfs-early.sh, which `npm test` starts before the unit tests. */
const ROOTFS_LOCK = "/tmp/deploy-agent-rootfs.lock";

/** Waits for a build rootfs-early.sh started, if one runs; builds the image if it is still missing. */
async function ensureImage(): Promise<void> {
  if ((await run("docker", ["image", "inspect", IMAGE])).code === 0) return;
  await must("flock", [ROOTFS_LOCK, "bash", join(HERE, "make-rootfs.sh"), IMAGE], 30 * MINUTE);
}

/**
 * systemd ≥ 256 treats cgroup v1 as obsolete and may refuse to boot on a pure-v1 host unless
 * SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1 is on its command line (NEWS for v256); in a container it reads
 * that from its own argv. On the hybrid v1 host this was written on, 257 boots either way; harmless.
 */
function cgroupV1(): boolean {
  return !existsSync("/sys/fs/cgroup/cgroup.controllers");
}
