import { describe, expect, it } from "vitest";
import { parseConfig } from "../../agent/config/load.js";
import { DURATION_BOUNDS, MAX_TIMER_MS } from "../../agent/config/duration.js";
import { parseDurationMs } from "../../agent/config/schema.js";
import { isAgentError } from "../../agent/errors.js";
import { configProblems } from "../support/config-text.js";

const problems = configProblems;

describe("the hint of CONFIG_INVALID", () => {
  it("names the installed config path, the check command and the README section with every key", () => {
    const hint = (source: string): string | undefined => {
      try {
        parseConfig("apps: {}\nbogus: 1\n", source);
      } catch (err) {
        if (isAgentError(err, "CONFIG_INVALID")) return err.hint;
        throw err;
      }
      throw new Error("config was accepted");
    };
    expect(hint("/etc/deploy-agent/agent.yaml")).toBe(
      'fix /etc/deploy-agent/agent.yaml, then check it with deploy-agent --check --config /etc/deploy-agent/agent.yaml; the "Configuration" section of /opt/deploy-agent/README.md lists every key',
    );
    expect(hint("/srv/agent.yaml")).toContain("fix /srv/agent.yaml (the installed config is /etc/deploy-agent/agent.yaml), then check it with deploy-agent --check --config /srv/agent.yaml");
  });
});

const minimal = `apps:
  web:
    image: ghcr.io/acme/web
    port: 8000
    health:
      path: /health
`;

/** A config setting every duration key: docker.timeout, poll.jitter, poll.maxBackoff, health.startTimeout, health.interval, drain, stopTimeout, settle. */
function everyDuration([timeout, jitter, maxBackoff, startTimeout, interval, drain, stopTimeout, settle]: string[]): string {
  return `docker: { timeout: ${timeout} }
poll: { jitter: ${jitter}, maxBackoff: ${maxBackoff} }
apps:
  web:
    image: ghcr.io/acme/web
    port: 8000
    health: { path: /h, startTimeout: ${startTimeout}, interval: ${interval} }
    drain: ${drain}
    stopTimeout: ${stopTimeout}
    settle: ${settle}
`;
}

describe("config", () => {
  it("fills defaults for every optional key", () => {
    const c = parseConfig(minimal);
    expect(c.state).toBe("/var/lib/deploy-agent/state.json");
    expect(c.socket).toBe("/run/deploy-agent/agent.sock");
    expect(c.apps.web).toMatchObject({
      track: "latest",
      schedule: "*/5 * * * *",
      drain: 10_000,
      stopTimeout: 15_000,
      settle: 3_000,
      keep: 3,
      init: true,
      restart: "unless-stopped",
      health: { path: "/health", startTimeout: 60_000, interval: 1_000, successes: 2 },
    });
  });

  it("reads a top-level section whose every key is commented out as left out, with its defaults", () => {
    const c = parseConfig(`traefik:\n  # api: http://127.0.0.1:8080\ndocker:\npoll:\nregistries:\n${minimal}`);
    expect(c.traefik).toEqual({});
    expect(c.docker).toEqual({ socket: "/var/run/docker.sock", timeout: 30_000 });
    expect(c.poll).toEqual({ concurrency: 4, jitter: 10_000, maxBackoff: 300_000 });
    expect(c.registries).toEqual({});
  });

  it("still refuses a section that is a value instead of keys, naming it", () => {
    expect(problems(`traefik: http://127.0.0.1:8080\n${minimal}`)).toContain("traefik: ");
  });

  it("names the key path and line of a bad value", () => {
    const msg = problems(minimal.replace("path: /health", "path: health"));
    expect(msg).toContain('apps.web.health.path: must start with "/" (agent.yaml line 6)');
  });

  it("reports every problem at once", () => {
    const msg = problems(`apps:
  web:
    image: ghcr.io/acme/web:latest
    port: 0
    schedule: "every five minutes"
    health: { path: /h, startTimeout: 60 }
    colour: blue
`);
    expect(msg).toContain("has 5 problems");
    expect(msg).toContain("apps.web.image: expected an image name such as ghcr.io/owner/name, without tag or digest (agent.yaml line 3)");
    expect(msg).toMatch(/apps\.web\.port: .*\(agent\.yaml line 4\)/);
    expect(msg).toContain('apps.web.schedule: expected a cron expression such as "*/5 * * * *" (5 fields, or 6 with seconds first) (agent.yaml line 5)');
    expect(msg).toContain('apps.web.health.startTimeout: expected a duration such as "10s", "500ms" or "2m" (agent.yaml line 6)');
    expect(msg).toContain('apps.web: unknown key "colour" (agent.yaml line 7)');
  });

  it("names a missing required key at its parent's line", () => {
    const msg = problems(`apps:
  web:
    image: ghcr.io/acme/web
    health: { path: /h }
`);
    expect(msg).toMatch(/apps\.web\.port: is required \(expected a port number\) \(agent\.yaml line 3\)/);
  });

  it("rejects YAML syntax errors with the line", () => {
    const msg = problems("apps:\n  web: [\n");
    expect(msg).toContain("is not valid YAML");
    expect(msg).toMatch(/line \d/);
  });

  it("rejects a config without apps", () => {
    expect(problems("state: /tmp/s.json\n")).toContain("apps:");
    expect(problems("apps: {}\n")).toContain("apps: must define at least one app");
  });

  it("rejects app names that cannot be container names", () => {
    expect(problems(minimal.replace("  web:", "  Web_App:"))).toContain("app names use lowercase letters, digits and -");
  });

  it("refuses labels the agent sets itself", () => {
    const msg = problems(`${minimal}    labels:\n      traefik.enable: "false"\n`);
    expect(msg).toContain("apps.web.labels:");
    expect(msg).toContain("are set by the agent");
    for (const key of ["Traefik.http.routers.x.rule", "TRAEFIK.enable", "Deploy-Agent.Slot"]) {
      expect(problems(`${minimal}    labels:\n      ${key}: "x"\n`)).toContain("apps.web.labels:");
    }
    expect(parseConfig(`${minimal}    labels:\n      org.example.team: "x"\n`).apps.web?.labels).toEqual({ "org.example.team": "x" });
  });

  it("accepts a 6-field cron with seconds", () => {
    expect(parseConfig(minimal.replace("port: 8000", 'port: 8000\n    schedule: "*/10 * * * * *"')).apps.web?.schedule).toBe("*/10 * * * * *");
  });

  it("refuses each duration outside its key's bounds, naming the bounds", () => {
    const msg = problems(everyDuration(["0s", "2h", "500ms", "0s", "50ms", "100000h", "0s", "6m"]));
    expect(msg).toContain("has 8 problems");
    expect(msg).toContain("docker.timeout: must be between 1s and 10m, got 0s (agent.yaml line 1)");
    expect(msg).toContain("poll.jitter: must be between 0s and 1h, got 2h (agent.yaml line 2)");
    expect(msg).toContain("poll.maxBackoff: must be between 1s and 24h, got 500ms (agent.yaml line 2)");
    expect(msg).toContain("apps.web.health.startTimeout: must be between 1s and 1h, got 0s (agent.yaml line 7)");
    expect(msg).toContain("apps.web.health.interval: must be between 100ms and 10m, got 50ms (agent.yaml line 7)");
    expect(msg).toContain("apps.web.drain: must be between 0s and 1h, got 100000h (agent.yaml line 8)");
    expect(msg).toContain("apps.web.stopTimeout: must be between 1s and 10m, got 0s (agent.yaml line 9)");
    expect(msg).toContain("apps.web.settle: must be between 0s and 5m, got 6m (agent.yaml line 10)");
  });

  it("accepts each duration at its bounds", () => {
    const c = parseConfig(everyDuration(["10m", "0s", "24h", "1h", "100ms", "0s", "1s", "5m"]));
    expect(c.docker.timeout).toBe(600_000);
    expect(c.poll).toMatchObject({ jitter: 0, maxBackoff: 86_400_000 });
    expect(c.apps.web).toMatchObject({ drain: 0, stopTimeout: 1_000, settle: 300_000, health: { startTimeout: 3_600_000, interval: 100 } });
  });

  it("keeps every duration bound within what a timer and the Engine's nanoseconds hold", () => {
    for (const [key, b] of Object.entries(DURATION_BOUNDS)) {
      expect(b.maxMs, key).toBeLessThanOrEqual(MAX_TIMER_MS);
      expect(Number.isSafeInteger(b.maxMs * 1_000_000), key).toBe(true);
      expect(b.minMs, key).toBeLessThanOrEqual(b.maxMs);
    }
  });

  it("refuses a health interval that is not shorter than the start timeout", () => {
    expect(problems(minimal.replace("path: /health", "path: /health\n      startTimeout: 10s\n      interval: 10s"))).toContain(
      "apps.web.health.interval: 10s must be shorter than health.startTimeout (10s), or Docker never checks the new release in time (agent.yaml line 8)",
    );
  });

  it("refuses a Traefik API address that is neither http nor https, without echoing it", () => {
    const msg = problems(`traefik: { api: "ftp://user:secret@127.0.0.1:8080" }\n${minimal}`);
    expect(msg).toContain("traefik.api: expected an http:// or https:// URL such as http://127.0.0.1:8080, got ftp:// (agent.yaml line 1)");
    expect(msg).not.toContain("secret");
    expect(problems(`traefik: { api: "not a url" }\n${minimal}`)).toContain("traefik.api: expected an http:// or https:// URL such as http://127.0.0.1:8080 (agent.yaml line 1)");
    expect(parseConfig(`traefik: { api: "https://traefik.internal:8443" }\n${minimal}`).traefik.api).toBe("https://traefik.internal:8443");
  });

  it("refuses env names that are not valid variable names, naming each", () => {
    const msg = problems(`${minimal}    env:\n      GOOD_1: x\n      _ok: y\n      1BAD: z\n      "A-B": w\n`);
    expect(msg).toContain("has 2 problems");
    expect(msg).toContain('apps.web.env.1BAD: "1BAD" is not a valid variable name (letters, digits and _, not starting with a digit) (agent.yaml line 10)');
    expect(msg).toContain('apps.web.env.A-B: "A-B" is not a valid variable name (letters, digits and _, not starting with a digit) (agent.yaml line 11)');
  });

  it("refuses relative secret and env file paths and credential names with a slash", () => {
    const msg = problems(`registries:
  ghcr.io: { username: bot, passwordFile: secrets/ghcr }
  quay.io: { username: bot, credential: ../etc/shadow }
${minimal}    envFile: web.env
`);
    expect(msg).toContain('registries.ghcr.io.passwordFile: must be an absolute path (starting with "/") (agent.yaml line 2)');
    expect(msg).toContain('registries.quay.io.credential: must be the name of a systemd credential (LoadCredential=NAME:FILE), a file name without "/" (agent.yaml line 3)');
    expect(msg).toContain('apps.web.envFile: must be an absolute path (starting with "/") (agent.yaml line 10)');
  });

  it("leaves unsafeVolumes off unless the app sets it", () => {
    expect(parseConfig(minimal).apps.web?.unsafeVolumes).toBe(false);
    expect(parseConfig(`${minimal}    unsafeVolumes: true\n`).apps.web?.unsafeVolumes).toBe(true);
  });

  it("parses durations in ms, s, m and h", () => {
    expect([parseDurationMs("500ms"), parseDurationMs("10s"), parseDurationMs("1.5s"), parseDurationMs("2m"), parseDurationMs("1h")]).toEqual([
      500, 10_000, 1_500, 120_000, 3_600_000,
    ]);
    expect(parseDurationMs("10")).toBeUndefined();
    expect(parseDurationMs("ten s")).toBeUndefined();
  });
});
