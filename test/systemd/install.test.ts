// The unit's resource and start limits and install.sh's care for the host, under a real systemd in
// its own booted container (test/systemd/booted.ts): memory limits, the start-timeout extension,
// re-runs that keep an admin's modes, agentctl's bash completion, a config that does not validate
// never restarting the agent, a build as root that runs no install script and stops at a failed npm
// ci with npm's error, and an uninstall that takes the agent's user out of group docker, removes the
// completion, and names what it kept and why.
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { configJsonSchema } from "../../agent/config/json-schema.js";
import { cleanupTestRun } from "../support/cleanup.js";
import { configValidator, installExampleConfig } from "../support/example-configs.js";
import { TEST_RUN_LABEL, testRunId } from "../support/images.js";
import { Booted, CHECKOUT, MINUTE, UNIT, missingTagYaml, must, run } from "./booted.js";

const DAEMON_JS = join(CHECKOUT, "dist/agent/daemon/main.js");
const haveDaemon = existsSync(DAEMON_JS);
const SKIP_REASON = `${DAEMON_JS} is missing; run npm run build first`;
if (!haveDaemon) console.warn(`install.test.ts: skipping: ${SKIP_REASON}`);

const vm = new Booted("sd7-install");
const AGENT_YAML = missingTagYaml("test/systemd/install.test.ts", "sd7web", "0 0 1 1 *");
const MODES = "/etc/deploy-agent /etc/deploy-agent/agent.yaml /var/lib/deploy-agent";
const COMPLETION = "/usr/share/bash-completion/completions/agentctl";
/** The identity the test gives the agent, so the containers it plants count as the agent's own. */
const AGENT_ID = "5d7a5d7a5d7a5d7a";

/** A transient Type=notify unit whose start takes 6 s against TimeoutStartSec=2s; `extendMs` > 0 asks for more first. */
async function slowNotifyStart(unit: string, extendMs: number) {
  const script = [
    `import { createNotifier } from "/opt/deploy-agent/dist/agent/daemon/sd-notify.js";`,
    `const n = createNotifier();`,
    extendMs > 0 ? `await n.extendTimeout(${extendMs}, "reconciling");` : "",
    `await new Promise((r) => setTimeout(r, 6000));`,
    `await n.ready();`,
    `setInterval(() => {}, 60000);`,
  ].join(" ");
  const start = await vm.sh(
    `systemd-run --quiet --unit=${unit} -p Type=notify -p NotifyAccess=all -p TimeoutStartSec=2s ` +
      `/usr/bin/node --input-type=module -e '${script}' 2>&1`,
    MINUTE,
  );
  const props = await vm.unitPropsOf(unit, "ActiveState", "Result", "ExecMainStartTimestampMonotonic", "ActiveEnterTimestampMonotonic");
  await vm.sh(`systemctl stop ${unit}; systemctl reset-failed ${unit}; true`);
  return { code: start.code, output: start.stdout, props };
}

describe.skipIf(!haveDaemon)(`install.sh and the unit's limits under systemd (skipped if: ${SKIP_REASON})`, () => {
  beforeAll(async () => {
    await vm.boot();
    await vm.mustSh("/src/install.sh --no-build 2>&1", 10 * MINUTE);
    await vm.mustSh(`cat > /etc/deploy-agent/agent.yaml <<'EOF'\n${AGENT_YAML}EOF\n/src/install.sh --no-build 2>&1`, 5 * MINUTE);
  }, 45 * MINUTE);

  afterAll(async () => {
    await cleanupTestRun();
  });

  it("runs the agent with MemoryHigh=256M, MemoryMax=512M and TimeoutStartSec=2min, and its cgroup enforces MemoryMax", async () => {
    const p = await vm.unitProps("ActiveState", "MemoryHigh", "MemoryMax", "TimeoutStartUSec", "ControlGroup");
    expect(p).toMatchObject({ ActiveState: "active", MemoryHigh: String(256 * 2 ** 20), MemoryMax: String(512 * 2 ** 20), TimeoutStartUSec: "2min" });
    // cgroup v2 has memory.max and memory.high; on v1, systemd applies only MemoryMax=, as memory.limit_in_bytes.
    const limits = await vm.mustSh(
      `cg=${p.ControlGroup}; if [ -f /sys/fs/cgroup/cgroup.controllers ]; then cat /sys/fs/cgroup$cg/memory.max /sys/fs/cgroup$cg/memory.high; ` +
        `else cat /sys/fs/cgroup/memory$cg/memory.limit_in_bytes; fi`,
    );
    expect(limits.trim().split("\n")[0]).toBe(String(512 * 2 ** 20));
  });

  it("writes agent.yaml's JSON Schema beside the config from the installed build, the installed example starts with its modeline and validates against it, and agentctl's --json schemas are installed with the README", async () => {
    const schema = JSON.parse(await vm.mustSh("cat /etc/deploy-agent/agent.schema.json")) as object;
    expect(schema).toEqual(configJsonSchema());
    expect(await vm.mustSh("stat -c '%a %U:%G' /etc/deploy-agent/agent.schema.json")).toBe("644 root:root\n");
    const example = await vm.mustSh("cat /etc/deploy-agent/agent.yaml.example");
    expect(example).toBe(installExampleConfig());
    expect(example.split("\n")[0]).toBe("# yaml-language-server: $schema=./agent.schema.json");
    const validate = configValidator(schema);
    expect(validate(parse(example)), JSON.stringify(validate.errors)).toBe(true);
    // The installed README lists the schemas of agentctl --json; they are beside it.
    expect((await vm.mustSh("ls /opt/deploy-agent/docs/json")).split("\n")).toContain("agentctl-status.schema.json");
  });

  it("lets a start outlast TimeoutStartSec while the daemon's notifier extends it, and fails the same start without", async () => {
    const extended = await slowNotifyStart("sd7-extended.service", 30_000);
    expect(extended).toMatchObject({ code: 0, props: { ActiveState: "active" } });
    const tookUs = Number(extended.props.ActiveEnterTimestampMonotonic) - Number(extended.props.ExecMainStartTimestampMonotonic);
    expect(tookUs).toBeGreaterThan(2_000_000);
    const plain = await slowNotifyStart("sd7-plain.service", 0);
    expect(plain.code).not.toBe(0);
    expect(plain.props.Result).toBe("timeout");
  }, 2 * MINUTE);

  it("stays starting while reconcile stops a container for longer than TimeoutStartSec, then becomes active", async () => {
    // Two running containers of the app and no live release: reconcile adopts the newer (green) and
    // stops blue, whose `sleep` as PID 1 ignores SIGTERM, so the stop takes the app's whole stopTimeout.
    const image = (await must("docker", ["inspect", "-f", "{{.Config.Image}}", vm.container])).trim();
    const slot = (name: string, generation: number) =>
      must("docker", [
        "run", "-d", "--name", `sd7web-${name}`, "--label", `${TEST_RUN_LABEL}=${testRunId()}`,
        ...Object.entries({ managed: "true", app: "sd7web", owner: AGENT_ID, slot: name, generation: String(generation), version: `v${generation}`, digest: `sha256:${String(generation).repeat(64)}` })
          .flatMap(([k, v]) => ["--label", `deploy-agent.${k}=${v}`]),
        image, "sleep", "infinity",
      ]);
    const dropIn = `/etc/systemd/system/${UNIT}.d/sd7-short-start.conf`;
    // A fresh state file with a known identity: the agent touches only containers that carry it.
    await vm.mustSh(
      `systemctl stop ${UNIT} && rm -f /var/lib/deploy-agent/state.json* && ` +
        `printf '%s' '${JSON.stringify({ schemaVersion: 1, agentId: AGENT_ID, nextDeployId: 1, apps: {} })}' > /var/lib/deploy-agent/state.json && ` +
        "chown deploy-agent:deploy-agent /var/lib/deploy-agent/state.json && chmod 0600 /var/lib/deploy-agent/state.json",
    );
    await slot("blue", 1);
    await slot("green", 2);
    const slowStop = AGENT_YAML.replace("      path: /health\n", "      path: /health\n    stopTimeout: 20s\n");
    await vm.mustSh(
      `mkdir -p $(dirname ${dropIn}) && printf '[Service]\\nTimeoutStartSec=8s\\n' > ${dropIn} && systemctl daemon-reload && ` +
        `cat > /etc/deploy-agent/agent.yaml <<'EOF'\n${slowStop}EOF`,
    );
    try {
      const start = await vm.sh(`systemctl start ${UNIT} 2>&1`, 2 * MINUTE);
      const p = await vm.unitProps("ActiveState", "TimeoutStartUSec", "ExecMainStartTimestampMonotonic", "ActiveEnterTimestampMonotonic");
      expect({ code: start.code, output: start.stdout, ActiveState: p.ActiveState, TimeoutStartUSec: p.TimeoutStartUSec }).toEqual({
        code: 0, output: "", ActiveState: "active", TimeoutStartUSec: "8s",
      });
      expect(Number(p.ActiveEnterTimestampMonotonic) - Number(p.ExecMainStartTimestampMonotonic)).toBeGreaterThan(8_000_000);
      expect((await run("docker", ["inspect", "sd7web-blue"])).code).not.toBe(0);
    } finally {
      await vm.sh(`rm -f ${dropIn} && systemctl daemon-reload && cat > /etc/deploy-agent/agent.yaml <<'EOF'\n${AGENT_YAML}EOF\nsystemctl restart ${UNIT}`);
    }
  }, 3 * MINUTE);

  it("keeps the modes and owners an admin tightened when install.sh runs again, and through the next start", async () => {
    // systemd itself sets StateDirectoryMode= on every start, so the lasting way to tighten the state
    // dir is a drop-in (the unit says so); it leaves the existing ConfigurationDirectory= as found.
    const dropIn = `/etc/systemd/system/${UNIT}.d/sd7-state-mode.conf`;
    await vm.mustSh(
      "chgrp deploy-agent /etc/deploy-agent && chmod 0710 /etc/deploy-agent && chmod 0440 /etc/deploy-agent/agent.yaml && " +
        `chmod 0700 /var/lib/deploy-agent && mkdir -p $(dirname ${dropIn}) && ` +
        `printf '[Service]\\nStateDirectoryMode=0700\\n' > ${dropIn} && systemctl daemon-reload`,
    );
    const tightened = await vm.mustSh(`stat -c '%a %U:%G' ${MODES}`);
    expect(tightened).toBe("710 root:deploy-agent\n440 root:deploy-agent\n700 deploy-agent:deploy-agent\n");
    try {
      const out = await vm.mustSh("/src/install.sh --no-build 2>&1", 5 * MINUTE);
      expect(out).toContain("nothing changed");
      expect(await vm.mustSh(`stat -c '%a %U:%G' ${MODES}`)).toBe(tightened);
      await vm.mustSh(`systemctl restart ${UNIT}`);
      expect(await vm.unitProps("ActiveState", "StateDirectoryMode")).toEqual({ ActiveState: "active", StateDirectoryMode: "0700" });
      expect(await vm.mustSh(`stat -c '%a %U:%G' ${MODES}`)).toBe(tightened);
    } finally {
      await vm.sh(`rm -f ${dropIn} && systemctl daemon-reload`);
    }
  }, 6 * MINUTE);

  it("builds a root-owned checkout without running any dependency's install script", async () => {
    // A checkout whose only dependency's install script leaves a marker in the directory npm ran in
    // ($INIT_CWD); the build itself only writes dist/. Both copies belong to root.
    const pkg = JSON.stringify({
      name: "sd7-checkout",
      version: "0.0.0",
      private: true,
      scripts: { build: "mkdir -p dist/agent/daemon && echo built > dist/agent/daemon/main.js" },
      devDependencies: { "sd7-marker": "file:sd7-marker-1.0.0.tgz" },
    });
    const marker = JSON.stringify({ name: "sd7-marker", version: "1.0.0", scripts: { install: 'touch "$INIT_CWD/install-script-ran"' } });
    await vm.mustSh(
      "set -e; rm -rf /root/sd7-co /root/sd7-control; mkdir -p /root/sd7-co/agent /root/sd7-co/m; cd /root/sd7-co\n" +
        `printf '%s' '${marker}' > m/package.json && (cd m && npm pack --quiet --pack-destination .. >/dev/null) && rm -r m\n` +
        `printf '%s' '${pkg}' > package.json && echo 'export {};' > agent/x.ts && cp /src/install.sh .\n` +
        "npm install --package-lock-only --ignore-scripts --offline --no-audit --no-fund >/dev/null\n" +
        "cp -a /root/sd7-co /root/sd7-control",
      2 * MINUTE,
    );
    // The control: a plain npm ci of the same checkout does run the script.
    await vm.mustSh("cd /root/sd7-control && npm ci --no-audit --no-fund >/dev/null 2>&1", 2 * MINUTE);
    expect((await vm.sh("test -e /root/sd7-control/install-script-ran")).code).toBe(0);

    const out = await vm.mustSh("cd / && source /root/sd7-co/install.sh && NO_BUILD=0 && build_if_needed 2>&1", 2 * MINUTE);
    expect(out).toContain("building in /root/sd7-co");
    expect(await vm.mustSh("stat -c %U /root/sd7-co; test -d /root/sd7-co/node_modules/sd7-marker && cat /root/sd7-co/dist/agent/daemon/main.js")).toBe(
      "root\nbuilt\n",
    );
    expect((await vm.sh("test -e /root/sd7-co/install-script-ran")).code).not.toBe(0);
  }, 5 * MINUTE);

  it("refuses to restart on a re-run with an agent.yaml that does not validate: the agent keeps running with the same MainPID, and install.sh prints the check's problem and exits non-zero", async () => {
    const before = await vm.unitProps("ActiveState", "MainPID");
    expect(before.ActiveState).toBe("active");
    const invalid = AGENT_YAML.replace("      path: /health\n", "      path: health\n");
    expect(invalid).not.toBe(AGENT_YAML);
    try {
      await vm.mustSh(`cat > /etc/deploy-agent/agent.yaml <<'EOF'\n${invalid}EOF`);
      const r = await vm.sh("/src/install.sh --no-build 2>&1", 5 * MINUTE);
      expect(r.code).not.toBe(0);
      expect(r.stdout).toContain("checking /etc/deploy-agent/agent.yaml: deploy-agent --check");
      expect(r.stdout).toMatch(/apps\.sd7web\.health\.path: must start with "\/" \(.*line \d+\)/);
      expect(r.stdout).toContain(
        "install.sh: error: /etc/deploy-agent/agent.yaml is not valid (above); deploy-agent.service was not restarted and keeps running with the config it started with",
      );
      expect(r.stdout).not.toContain("restarting deploy-agent.service");
      expect(await vm.unitProps("ActiveState", "MainPID")).toEqual(before);
    } finally {
      await vm.mustSh(`cat > /etc/deploy-agent/agent.yaml <<'EOF'\n${AGENT_YAML}EOF`);
    }
    // The same config, valid again: the check passes and prints the app's line.
    const ok = await vm.mustSh("/src/install.sh --no-build 2>&1", 5 * MINUTE);
    expect(ok).toMatch(/checking \/etc\/deploy-agent\/agent\.yaml[\s\S]*sd7web/);
  }, 6 * MINUTE);

  it("stops a build whose npm ci fails with npm's own error, never going on to a build that says tsc: not found", async () => {
    // A checkout whose package-lock.json is cut short: npm ci refuses it; its build would need tsc.
    const pkg = JSON.stringify({ name: "ix-checkout", version: "0.0.0", private: true, scripts: { build: "tsc -p tsconfig.json" }, devDependencies: { typescript: "^5.9.3" } });
    await vm.mustSh(
      "set -e; rm -rf /root/ix-co; mkdir -p /root/ix-co/agent; cd /root/ix-co\n" +
        `printf '%s' '${pkg}' > package.json && printf '%s' '{"name": "ix-checkout", "lockfileVersion": 3, "packages": {' > package-lock.json\n` +
        "echo 'export {};' > agent/x.ts && cp /src/install.sh .",
    );
    const r = await vm.sh("cd / && source /root/ix-co/install.sh && NO_BUILD=0 && build_if_needed 2>&1", 2 * MINUTE);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toMatch(/^npm (ERR!|error) /m);
    expect(r.stdout).toContain("install.sh: error: npm ci failed in /root/ix-co (its error is above)");
    expect(r.stdout).not.toContain("tsc: not found");
    expect(r.stdout).not.toContain("npm run build");
  }, 3 * MINUTE);

  it("installs agentctl's bash completion, which completes verbs, flags and the running agent's app at a Tab", async () => {
    expect(await vm.mustSh(`stat -c '%a %U:%G' ${COMPLETION}`)).toBe("644 root:root\n");
    // What bash-completion does at a Tab, without the package: load the file, set the line, call the function.
    const complete = (line: string) =>
      vm.mustSh(
        `bash --norc --noprofile -c 'source ${COMPLETION}; read -ra COMP_WORDS <<<"$1"; [[ $1 == *" " ]] && COMP_WORDS+=(""); ` +
          `COMP_CWORD=$((\${#COMP_WORDS[@]} - 1)); _agentctl; echo "\${COMPREPLY[*]}"' bash '${line}'`,
      );
    expect(await complete("agentctl de")).toBe("deploy\n");
    expect(await complete("agentctl status --w")).toBe("--watch\n");
    expect(await complete("agentctl status ")).toBe("sd7web\n");
  });

  it("takes deploy-agent out of group docker on --uninstall and names what it kept", async () => {
    const run_ = testRunId();
    const container = `sd7-${run_}-web-blue`;
    const keepTag = `deploy-agent/sd7-${run_}:gen-1`;
    const image = (await must("docker", ["inspect", "-f", "{{.Config.Image}}", vm.container])).trim();
    await must("docker", ["tag", image, keepTag]);
    const network = `ix-${run_}-web`;
    // This agent's identity, from the state file the running agent wrote; a second container carries another's.
    const agentId = (await vm.mustSh(`node -p 'JSON.parse(require("fs").readFileSync("/var/lib/deploy-agent/state.json","utf8")).agentId'`)).trim();
    expect(agentId).toMatch(/^[0-9a-f]{16,}$/);
    const foreign = `sd7-${run_}-other-blue`;
    await must("docker", ["network", "create", "--label", `${TEST_RUN_LABEL}=${run_}`, network]);
    for (const [name, owner] of [[container, agentId], [foreign, "0therag3nt0000000"]] as const) {
      await must("docker", [
        "run", "-d", "--name", name, "--network", network, "--label", `${TEST_RUN_LABEL}=${run_}`,
        "--label", "deploy-agent.managed=true", "--label", `deploy-agent.owner=${owner}`, "--label", `deploy-agent.app=sd7-${run_}`,
        image, "sleep", "infinity",
      ]);
    }
    try {
      expect(await vm.mustSh("id -nG deploy-agent")).toContain("docker");
      const out = await vm.mustSh("/src/install.sh --uninstall 2>&1", 2 * MINUTE);
      expect(out).toContain("took deploy-agent out of group docker");
      expect((await vm.sh(`test -e ${COMPLETION}`)).code).not.toBe(0);
      expect((await vm.mustSh("id -nG deploy-agent")).trim().split(" ")).not.toContain("docker");
      expect(await vm.mustSh("getent group docker | cut -d: -f4")).not.toMatch(/(^|,)deploy-agent(,|$)/m);
      const kept = out.slice(out.indexOf("==> kept:"));
      expect(kept).toContain("/var/lib/deploy-agent: state.json, the deploy history");
      expect(kept).toContain("user and group deploy-agent");
      expect(kept).toContain("/etc/deploy-agent: agent.yaml");
      expect(kept).toContain("kept so a reinstall carries on where this one stopped");
      expect(kept).toContain("user and group deploy-agent: kept because they own /var/lib/deploy-agent");
      expect(kept).toContain("kept because they are your edits; --uninstall --purge removes it");
      expect(kept).toMatch(new RegExp(`app containers, kept because they may still serve your apps .*\\b${container}\\b`));
      // Another agent's container on the same Engine is not this agent's to list.
      expect(kept).not.toContain(foreign);
      expect(kept).toMatch(new RegExp(`rollback images, kept so a reinstall can still roll back .*${keepTag.replace(/[/:.]/g, "\\$&")}`));
      expect(kept).toMatch(new RegExp(`the apps' networks, kept because Traefik and those containers share them .*\\b${network}\\b`));
      // Containers are never removed without being asked: the planted one still runs.
      expect((await must("docker", ["inspect", "-f", "{{.State.Running}}", container])).trim()).toBe("true");
      // Kept, as listed.
      expect((await vm.sh("test -d /var/lib/deploy-agent && test -f /etc/deploy-agent/agent.yaml && getent passwd deploy-agent")).code).toBe(0);
    } finally {
      await run("docker", ["rm", "-f", container, foreign]);
      await run("docker", ["rmi", keepTag]);
      await run("docker", ["network", "rm", network]);
    }
  }, 3 * MINUTE);

  it("asks at a terminal about each thing --uninstall --purge would remove and removes only what is answered yes; without a terminal it removes nothing more", async () => {
    // A container, image and network carrying an identity no other run shares, so only they are offered.
    const run_ = testRunId();
    const id = `1c${run_}`.padEnd(16, "0");
    const app = `ix-${run_}`;
    const container = `ix-${run_}-purge-blue`;
    const network = `ix-${run_}-purge`;
    const keepTag = `deploy-agent/${app}:gen-1`;
    const image = (await must("docker", ["inspect", "-f", "{{.Config.Image}}", vm.container])).trim();
    await must("docker", ["tag", image, keepTag]);
    await must("docker", ["network", "create", "--label", `${TEST_RUN_LABEL}=${run_}`, network]);
    await must("docker", [
      "run", "-d", "--name", container, "--network", network, "--label", `${TEST_RUN_LABEL}=${run_}`,
      "--label", "deploy-agent.managed=true", "--label", `deploy-agent.owner=${id}`, "--label", `deploy-agent.app=${app}`,
      image, "sleep", "infinity",
    ]);
    await vm.mustSh(
      `mkdir -p /var/lib/deploy-agent && printf '%s' '${JSON.stringify({ schemaVersion: 1, agentId: id, nextDeployId: 1, apps: {} })}' > /var/lib/deploy-agent/state.json`,
    );
    const running = async () => (await run("docker", ["inspect", "-f", "{{.State.Running}}", container])).stdout.trim();
    try {
      const plain = await vm.mustSh("/src/install.sh --uninstall --purge 2>&1 </dev/null", 2 * MINUTE);
      expect(plain).toContain("--purge removes nothing else without a terminal to ask at (containers may still serve)");
      expect(plain).not.toContain("[y/N]");
      expect(await running()).toBe("true");

      // At a terminal (script(1) gives install.sh a pty): yes to the containers and the network, no to the rest.
      const tty = await vm.mustSh(`printf 'y\\nn\\ny\\nn\\nn\\n' | script -qec '/src/install.sh --uninstall --purge' /dev/null`, 2 * MINUTE);
      expect(tty).toContain(`remove the app containers ${container}? They stop serving now [y/N]`);
      expect(tty).toContain(`remove the rollback images ${keepTag}? No rollback is possible after [y/N]`);
      expect(tty).toContain(`remove network ${network}? [y/N]`);
      expect(tty).toContain("remove /var/lib/deploy-agent, the deploy history? [y/N]");
      expect(tty).toContain("remove the user and group deploy-agent? [y/N]");
      expect((await run("docker", ["inspect", container])).code).not.toBe(0);
      expect((await run("docker", ["network", "inspect", network])).code).not.toBe(0);
      expect((await run("docker", ["image", "inspect", keepTag])).code).toBe(0);
      expect((await vm.sh("test -f /var/lib/deploy-agent/state.json && getent passwd deploy-agent")).code).toBe(0);
    } finally {
      await run("docker", ["rm", "-f", container]);
      await run("docker", ["rmi", keepTag]);
      await run("docker", ["network", "rm", network]);
    }
  }, 3 * MINUTE);
});
