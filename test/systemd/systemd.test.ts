// install.sh and systemd/deploy-agent.service under a real systemd: a Debian trixie container
// booted with /sbin/init (image from make-rootfs.sh), talking to the host's Engine through the
// bind-mounted docker.sock, with the checkout mounted read-only at /src.
import { execFile } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupTestRun } from "../support/cleanup.js";
import { TEST_REGISTRY, TEST_RUN_LABEL, testRunId } from "../support/images.js";

const HERE = dirname(fileURLToPath(import.meta.url));
/** The checkout to install; DEPLOY_AGENT_CHECKOUT points it at another tree (e.g. an unpacked release). */
const CHECKOUT = resolve(process.env.DEPLOY_AGENT_CHECKOUT ?? join(HERE, "../.."));
const IMAGE = process.env.DEPLOY_AGENT_SYSTEMD_IMAGE ?? "deploy-agent-test/systemd-trixie:1";
const DOCKER_SOCK = "/var/run/docker.sock";
const DAEMON_JS = join(CHECKOUT, "dist/agent/daemon/main.js");
const UNIT = "deploy-agent.service";
const MINUTE = 60_000;

const haveDaemon = existsSync(DAEMON_JS);
const SKIP_REASON = `${DAEMON_JS} is missing; run npm run build first`;
if (!haveDaemon) console.warn(`systemd.test.ts: skipping: ${SKIP_REASON}`);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], timeoutMs = 2 * MINUTE): Promise<Run> {
  return new Promise((resolvePromise) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
      resolvePromise({ code, stdout, stderr: err !== null && stderr === "" ? err.message : stderr });
    });
  });
}

async function must(cmd: string, args: string[], timeoutMs?: number): Promise<string> {
  const r = await run(cmd, args, timeoutMs);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited with ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  }
  return r.stdout;
}

const CONTAINER = `deploy-agent-systemd-${testRunId()}`;
/**
 * The host's extra CA bundle, passed to npm inside the container: where the npm registry is reached
 * through a TLS-inspecting proxy, its CA is trusted on the host only (the Debian mirror is plain HTTP).
 */
const HOST_CA = process.env.NODE_EXTRA_CA_CERTS;
const CONTAINER_CA = "/usr/local/share/deploy-agent-test/host-ca.crt";
const EXEC_ENV = HOST_CA !== undefined && existsSync(HOST_CA) ? ["-e", `NODE_EXTRA_CA_CERTS=${CONTAINER_CA}`] : [];
const MOUNT_CA = EXEC_ENV.length > 0 ? ["-v", `${HOST_CA}:${CONTAINER_CA}:ro`] : [];
const execArgs = (script: string) => ["exec", ...EXEC_ENV, CONTAINER, "bash", "-c", script];
const sh = (script: string, timeoutMs?: number) => run("docker", execArgs(script), timeoutMs);
const mustSh = (script: string, timeoutMs?: number) => must("docker", execArgs(script), timeoutMs);

/** Polls `probe` until it returns a value other than undefined; the error names the deadline and the last result. */
async function until<T>(what: string, deadlineMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const end = Date.now() + deadlineMs;
  let last: unknown;
  for (;;) {
    const r = await probe().catch((err: unknown) => ((last = err), undefined));
    if (r !== undefined) return r;
    if (Date.now() > end) throw new Error(`${what}: not reached within ${deadlineMs / 1000}s (last: ${String(last)})`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function unitProps(...names: string[]): Promise<Record<string, string>> {
  const out = await mustSh(`systemctl show ${UNIT} ${names.map((n) => `-p ${n}`).join(" ")}`);
  return Object.fromEntries(out.trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
}

async function journal(extra = ""): Promise<Array<Record<string, string>>> {
  const out = await mustSh(`journalctl -u deploy-agent -o json --no-pager ${extra}`);
  return out
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, string>)
    .filter((e) => e.SYSLOG_IDENTIFIER === "deploy-agent");
}

/** One app tracking a tag the (absent) test registry does not have: every poll fails, the daemon stays up. */
const AGENT_YAML = `# written by test/systemd/systemd.test.ts
apps:
  web:
    image: ${TEST_REGISTRY}/deploy-agent-systemd-test/web
    track: does-not-exist
    schedule: "* * * * *"
    port: 8080
    health:
      path: /health
`;

async function ensureImage(): Promise<void> {
  if ((await run("docker", ["image", "inspect", IMAGE])).code === 0) return;
  await must("bash", [join(HERE, "make-rootfs.sh"), IMAGE], 30 * MINUTE);
}

/**
 * systemd ≥ 256 treats cgroup v1 as obsolete and may refuse to boot on a pure-v1 host unless
 * SYSTEMD_CGROUP_ENABLE_LEGACY_FORCE=1 is on its command line (NEWS for v256); in a container it reads
 * that from its own argv. On the hybrid v1 host this was written on, 257 boots either way; harmless.
 */
function cgroupV1(): boolean {
  return !existsSync("/sys/fs/cgroup/cgroup.controllers");
}

describe.skipIf(!haveDaemon)(`deploy-agent under systemd (skipped if: ${SKIP_REASON})`, () => {
  let installOutput = "";

  beforeAll(async () => {
    await ensureImage();
    const dockerGid = statSync(DOCKER_SOCK).gid;
    await must("docker", [
      "run", "-d", "--name", CONTAINER,
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
      const r = await sh("systemctl is-system-running --wait");
      return ["running", "degraded"].includes(r.stdout.trim()) ? r.stdout : undefined;
    });
    // The socket's group as the container sees it: same gid as on the host, named docker.
    await mustSh(`getent group docker >/dev/null || groupadd --non-unique --gid ${dockerGid} docker`);
    installOutput = await mustSh("/src/install.sh --no-build 2>&1", 10 * MINUTE);
  }, 45 * MINUTE);

  afterAll(async () => {
    const r = await sh("journalctl -u deploy-agent --no-pager -n 40 -o cat");
    if (r.code === 0) console.log(`last journal lines of ${UNIT}:\n${r.stdout}`);
    await cleanupTestRun();
  });

  it("enables the unit but does not start it while agent.yaml is the example", async () => {
    expect(installOutput).toContain("still the example");
    expect((await sh(`systemctl is-enabled ${UNIT}`)).stdout.trim()).toBe("enabled");
    expect((await sh(`systemctl is-active ${UNIT}`)).stdout.trim()).toBe("inactive");
    expect(await mustSh("stat -c '%a %U:%G' /var/lib/deploy-agent /etc/deploy-agent/agent.yaml")).toBe(
      "750 deploy-agent:deploy-agent\n640 root:deploy-agent\n",
    );
  });

  it("passes systemd-analyze verify", async () => {
    const r = await sh(`systemd-analyze verify /etc/systemd/system/${UNIT} 2>&1`);
    expect(r.stdout).not.toMatch(/deploy-agent\.service:/);
    expect(r.code).toBe(0);
  });

  it("becomes active once the daemon sends READY=1", async () => {
    await mustSh(`cat > /etc/deploy-agent/agent.yaml <<'EOF'\n${AGENT_YAML}EOF`);
    // Second run: the config is no longer the example, so install.sh starts the service.
    const out = await mustSh("/src/install.sh --no-build 2>&1", 5 * MINUTE);
    expect(out).toContain(`restarting ${UNIT}`);
    const p = await unitProps("ActiveState", "SubState", "Type", "NotifyAccess", "NRestarts");
    expect(p).toEqual({ ActiveState: "active", SubState: "running", Type: "notify", NotifyAccess: "all", NRestarts: "0" });
  }, 6 * MINUTE);

  it("creates the control socket with mode 0660", async () => {
    const st = await until("agent.sock", 30_000, async () => {
      const r = await sh("stat -c '%F %a %U:%G' /run/deploy-agent/agent.sock");
      return r.code === 0 ? r.stdout.trim() : undefined;
    });
    expect(st).toBe("socket 660 deploy-agent:deploy-agent");
    expect(await mustSh("stat -c '%a %U:%G' /run/deploy-agent")).toBe("750 deploy-agent:deploy-agent\n");
  });

  it("answers agentctl status through the installed wrapper", async () => {
    const out = await mustSh("agentctl status 2>&1");
    expect(out).toContain("web");
    expect(out).toContain(`${TEST_REGISTRY}/deploy-agent-systemd-test/web`);
  });

  it("logs the registry failure with journald priorities and keeps running", async () => {
    // The first cron tick ("* * * * *") is at most a minute away.
    const warnings = await until("a warning-or-worse journal entry naming the registry", 2 * MINUTE, async () => {
      const entries = await journal("-p warning");
      return entries.some((e) => e.MESSAGE?.includes(TEST_REGISTRY)) ? entries : undefined;
    });
    for (const e of warnings) {
      expect(Number(e.PRIORITY)).toBeLessThanOrEqual(4);
      expect(e.MESSAGE?.startsWith("<")).toBe(false);
    }
    // Every JSON line's PRIORITY matches its pino level: the "<N>" prefix was parsed and stripped.
    const all = await journal();
    const lines = all.filter((e) => e.MESSAGE?.startsWith("{"));
    expect(lines.length).toBeGreaterThan(0);
    const expected = (level: number) => (level >= 60 ? 2 : level >= 50 ? 3 : level >= 40 ? 4 : level >= 30 ? 6 : 7);
    for (const e of lines) {
      const level = (JSON.parse(e.MESSAGE ?? "{}") as { level: number }).level;
      expect({ msg: e.MESSAGE, PRIORITY: e.PRIORITY }).toEqual({ msg: e.MESSAGE, PRIORITY: String(expected(level)) });
    }
    expect(lines.some((e) => e.PRIORITY === "6")).toBe(true);
    expect((await sh(`systemctl is-active ${UNIT}`)).stdout.trim()).toBe("active");
  }, 3 * MINUTE);

  it("pings the watchdog from the daemon", async () => {
    // WatchdogSec=60 → WATCHDOG_USEC=60000000 → a ping every 30 s; systemd stamps each one it accepts.
    const first = await unitProps("WatchdogTimestampMonotonic", "WatchdogUSec");
    expect(first.WatchdogUSec).toBe("1min");
    await until("a WATCHDOG=1 ping", 45_000, async () => {
      const p = await unitProps("WatchdogTimestampMonotonic");
      return p.WatchdogTimestampMonotonic !== first.WatchdogTimestampMonotonic ? p : undefined;
    });
    expect(await unitProps("NRestarts")).toEqual({ NRestarts: "0" });
  }, MINUTE);

  it("is restarted after SIGKILL", async () => {
    const before = await unitProps("MainPID", "NRestarts");
    await mustSh(`systemctl kill -s SIGKILL ${UNIT}`);
    // RestartSec=5, then READY=1 again.
    const after = await until("restart after SIGKILL", MINUTE, async () => {
      const p = await unitProps("MainPID", "NRestarts", "ActiveState");
      return p.ActiveState === "active" && p.MainPID !== before.MainPID && p.MainPID !== "0" ? p : undefined;
    });
    expect(Number(after.NRestarts)).toBe(Number(before.NRestarts) + 1);
  }, 2 * MINUTE);

  it("changes nothing when install.sh runs again", async () => {
    const before = await unitProps("MainPID");
    const out = await mustSh("/src/install.sh --no-build 2>&1", 5 * MINUTE);
    expect(out).toContain("nothing changed");
    expect(out).not.toContain("npm ci");
    expect(await unitProps("MainPID")).toEqual(before);
    expect(await mustSh("grep -c . /etc/deploy-agent/agent.yaml")).toBe(`${AGENT_YAML.split("\n").length - 1}\n`);
  }, 6 * MINUTE);

  it("uninstalls the unit and keeps the state directory", async () => {
    await mustSh("/src/install.sh --uninstall 2>&1", 2 * MINUTE);
    const left = await mustSh(
      "for p in /etc/systemd/system/deploy-agent.service /opt/deploy-agent /usr/local/bin/agentctl " +
        "/usr/local/bin/deploy-agent /etc/deploy-agent/agent.yaml /var/lib/deploy-agent; do " +
        '[ -e "$p" ] && echo "$p"; done; true',
    );
    expect(left.trim().split("\n")).toEqual(["/etc/deploy-agent/agent.yaml", "/var/lib/deploy-agent"]);
    expect((await sh(`systemctl is-active ${UNIT}`)).stdout.trim()).not.toBe("active");
    await mustSh("/src/install.sh --uninstall --purge 2>&1");
    expect((await sh("test -e /etc/deploy-agent")).code).not.toBe(0);
    expect((await sh("test -d /var/lib/deploy-agent")).code).toBe(0);
  }, 3 * MINUTE);
});

