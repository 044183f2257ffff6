import { describe, expect, it } from "vitest";
import { parseConfig } from "../../agent/config/load.js";
import { parseDurationMs } from "../../agent/config/schema.js";
import { isAgentError } from "../../agent/errors.js";

function problems(yaml: string): string {
  try {
    parseConfig(yaml, "/etc/deploy-agent/agent.yaml");
  } catch (err) {
    if (isAgentError(err, "CONFIG_INVALID")) return err.message;
    throw err;
  }
  throw new Error("config was accepted");
}

const minimal = `apps:
  web:
    image: ghcr.io/acme/web
    port: 8000
    health:
      path: /health
`;

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
  });

  it("accepts a 6-field cron with seconds", () => {
    expect(parseConfig(minimal.replace("port: 8000", 'port: 8000\n    schedule: "*/10 * * * * *"')).apps.web?.schedule).toBe("*/10 * * * * *");
  });

  it("parses durations in ms, s, m and h", () => {
    expect([parseDurationMs("500ms"), parseDurationMs("10s"), parseDurationMs("1.5s"), parseDurationMs("2m"), parseDurationMs("1h")]).toEqual([
      500, 10_000, 1_500, 120_000, 3_600_000,
    ]);
    expect(parseDurationMs("10")).toBeUndefined();
    expect(parseDurationMs("ten s")).toBeUndefined();
  });
});
