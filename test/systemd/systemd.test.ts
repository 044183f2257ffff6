// install.sh and systemd/deploy-agent.service under a real systemd: a Debian trixie container
// booted with /sbin/init (test/systemd/booted.ts), talking to the host's Engine through the
// bind-mounted docker.sock, with the checkout mounted read-only at /src.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StatusReport, type AppStatus } from "../../agent/control/protocol.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { TEST_REGISTRY } from "../support/images.js";
import { pushImage, type Pushed } from "../support/registry-server.js";
import { Booted, CHECKOUT, MINUTE, UNIT, missingTagYaml, must, until } from "./booted.js";
import { startContainerRegistry, type ContainerRegistry } from "./container-registry.js";

const DAEMON_JS = join(CHECKOUT, "dist/agent/daemon/main.js");
const haveDaemon = existsSync(DAEMON_JS);
const SKIP_REASON = `${DAEMON_JS} is missing; run npm run build first`;
if (!haveDaemon) console.warn(`systemd.test.ts: skipping: ${SKIP_REASON}`);

const vm = new Booted("systemd");
const sh = vm.sh.bind(vm);
const mustSh = vm.mustSh.bind(vm);
const unitProps = vm.unitProps.bind(vm);
const journal = vm.journal.bind(vm);

const AGENT_YAML = missingTagYaml("test/systemd/systemd.test.ts", "web", "* * * * *");

describe.skipIf(!haveDaemon)(`deploy-agent under systemd (skipped if: ${SKIP_REASON})`, () => {
  let installOutput = "";

  beforeAll(async () => {
    await vm.boot();
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
    // The "<N>" prefix was parsed and stripped from every line, each at its level's priority.
    const all = await journal();
    expect(all.filter((e) => /^[<{]/.test(e.MESSAGE ?? "")).map((e) => e.MESSAGE)).toEqual([]);
    expect(all.find((e) => e.MESSAGE?.startsWith("poll failed "))?.PRIORITY).toBe("4");
    expect(all.find((e) => e.MESSAGE?.startsWith("deploy-agent ready "))?.PRIORITY).toBe("6");
    expect((await sh(`systemctl is-active ${UNIT}`)).stdout.trim()).toBe("active");
  }, 3 * MINUTE);

  it("jl writes journal lines a person reads: the message first, then app= and the other fields", async () => {
    const lines = (await mustSh(`journalctl -u ${UNIT} -o cat --no-pager`)).split("\n");
    expect(lines).toContain("deploy-agent ready socket=/run/deploy-agent/agent.sock");
    const poll = lines.find((l) => l.startsWith("poll failed "));
    expect(poll).toMatch(new RegExp(`^poll failed app=web step=poll code=REGISTRY_[A-Z_]+ err=".*${TEST_REGISTRY.replace(/\./g, "\\.")}.*"$`));
  });

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

  describe("registry credentials from LoadCredential=", () => {
    // Not 5000 (TEST_REGISTRY) nor 5100-5199 (test/support/loopback.ts): a deploy after a resolve
    // pulls through the host's Engine, whose 127.0.0.1 is the host's, so that pull must find nothing.
    const PORT = 5731;
    const USER = "deploy-bot";
    const PASSWORD = `right-${randomBytes(12).toString("hex")}`;
    const WRONG = `wrong-${randomBytes(12).toString("hex")}`;
    const SOURCE = "/etc/deploy-agent/registry-password";
    const DROP_IN = `/etc/systemd/system/${UNIT}.d/credential.conf`;
    const APP = "private";
    let registry: ContainerRegistry | undefined;
    let pushed: Pushed;

    const privateYaml = (host: string) => `# written by test/systemd/systemd.test.ts (LoadCredential=)
registries:
  "${host}":
    username: ${USER}
    credential: registry
apps:
  ${APP}:
    image: ${host}/deploy-agent-systemd-test/private
    track: v1
    schedule: "0 0 1 1 *"
    port: 8080
    health:
      path: /health
`;

    /** Puts `password` in the credential's source file and restarts the agent, so systemd copies it afresh. */
    async function restartWithPassword(password: string): Promise<void> {
      await mustSh(`umask 077 && printf '%s\\n' '${password}' > ${SOURCE}`);
      const r = await sh(`systemctl restart ${UNIT} 2>&1`);
      if (r.code !== 0) {
        const log = await sh(`systemctl status ${UNIT} --no-pager -l; journalctl -u ${UNIT} --no-pager -n 20 -o cat`);
        throw new Error(`systemctl restart ${UNIT} with the LoadCredential= drop-in exited with ${r.code}: ${r.stdout}\n${log.stdout}`);
      }
    }

    /** The app's status once its first poll (the one at start) has finished. */
    async function firstPoll(): Promise<AppStatus> {
      return until(`agentctl status ${APP} showing a finished poll`, MINUTE, async () => {
        const report = StatusReport.parse(JSON.parse(await mustSh(`agentctl status --json ${APP}`)));
        const app = report.apps.find((a) => a.app === APP);
        return app?.lastPoll !== undefined ? app : undefined;
      });
    }

    async function expectPasswordsNotInJournal(): Promise<void> {
      // Every field of every entry of the container's whole journal, not only the agent's messages.
      const all = await mustSh("journalctl --no-pager -o json");
      expect(all.length).toBeGreaterThan(0);
      expect(all).not.toContain(PASSWORD);
      expect(all).not.toContain(WRONG);
    }

    beforeAll(async () => {
      registry = await startContainerRegistry({
        container: vm.container,
        port: PORT,
        users: { [USER]: PASSWORD },
        docker: (args) => must("docker", args),
        sh: (script) => mustSh(script),
      });
      const basic = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString("base64")}`;
      pushed = await pushImage(registry.urlFromHost, "deploy-agent-systemd-test/private", "v1", { os: "linux", architecture: "amd64" }, basic);
      await mustSh(
        `mkdir -p ${dirname(DROP_IN)} && printf '[Service]\\nLoadCredential=registry:${SOURCE}\\n' > ${DROP_IN}\n` +
          `cat > /etc/deploy-agent/agent.yaml <<'EOF'\n${privateYaml(registry.host)}EOF\n` +
          "systemctl daemon-reload",
      );
    }, 2 * MINUTE);

    afterAll(async () => {
      // Back to the state the tests after this block expect: AGENT_YAML, no drop-in, the agent running.
      await mustSh(
        `rm -f ${DROP_IN} ${SOURCE} && cat > /etc/deploy-agent/agent.yaml <<'EOF'\n${AGENT_YAML}EOF\n` +
          `systemctl daemon-reload && systemctl restart ${UNIT}`,
      );
      await registry?.stop();
    });

    it("resolves a private tag with the password systemd hands over, from a file the agent user cannot read", async () => {
      await restartWithPassword(PASSWORD);
      expect(await mustSh(`stat -c '%a %U:%G' ${SOURCE}`)).toBe("600 root:root\n");
      expect((await sh(`runuser -u deploy-agent -- cat ${SOURCE}`)).code).not.toBe(0);
      // systemd's copy, as root sees it from outside the unit.
      expect(await mustSh(`cat /run/credentials/${UNIT}/registry`)).toBe(`${PASSWORD}\n`);
      const app = await firstPoll();
      expect(app.lastPoll?.error).toBeUndefined();
      expect(app.lastPoll?.digest).toBe(pushed.digest);
      expect(app.resolvedTag).toBe("v1");
      await expectPasswordsNotInJournal();
    }, 3 * MINUTE);

    it("reports REGISTRY_UNAUTHORIZED, naming the user and agent.yaml, when the credential holds a wrong password", async () => {
      await restartWithPassword(WRONG);
      const app = await firstPoll();
      expect(app.lastPoll?.digest).toBeUndefined();
      expect(app.lastPoll?.error?.code).toBe("REGISTRY_UNAUTHORIZED");
      expect(app.lastPoll?.error?.message).toContain(`user "${USER}" (agent.yaml registries.127.0.0.1:${PORT})`);
      await expectPasswordsNotInJournal();
    }, 3 * MINUTE);
  });

  it("jl logs each problem of a bad config as its own line under journalctl -p err", async () => {
    const since = (await mustSh("date +%s")).trim();
    await mustSh(`cat > /etc/deploy-agent/agent.yaml <<'EOF'\n${AGENT_YAML.replace("port: 8080", "port: eighty")}EOF`);
    try {
      // reset-failed first: the tests before this one restarted the unit several times, and a sixth
      // start within 10 s would be refused by systemd's start rate limit (StartLimitBurst=5 in
      // StartLimitIntervalSec=10s by default, systemd.unit(5)) instead of reaching the daemon.
      expect((await sh(`systemctl reset-failed ${UNIT}; systemctl restart ${UNIT} 2>&1`)).code).not.toBe(0);
      expect(await unitProps("ExecMainStatus")).toEqual({ ExecMainStatus: "78" });
      // -t: the daemon's own lines, not systemd's about the unit failing.
      const errors = (await mustSh(`journalctl -t deploy-agent -p err -o cat --no-pager --since=@${since}`)).trim().split("\n");
      expect(errors).toEqual([
        // The hint is a quoted value: JSON escapes inside it (the README section's name is in quotes).
        expect.stringMatching(/^\/etc\/deploy-agent\/agent\.yaml has 1 problem: code=CONFIG_INVALID hint="(?:[^"\\]|\\.)+"$/),
        expect.stringMatching(/^apps\.web\.port: .* \(agent\.yaml line 7\) code=CONFIG_INVALID$/),
      ]);
    } finally {
      // The tests after this one expect AGENT_YAML and the agent running, whatever happened here.
      await mustSh(`cat > /etc/deploy-agent/agent.yaml <<'EOF'\n${AGENT_YAML}EOF\nsystemctl reset-failed ${UNIT}\nsystemctl restart ${UNIT}`);
    }
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

