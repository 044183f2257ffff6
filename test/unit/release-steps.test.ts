// Release steps (predeploy, postdeploy): their config, the one-off's create options, what the CLI
// prints of them and the postdeploy-failed notification. The runs themselves are in
// test/stories/release-steps.test.ts against the real Engine.
import { describe, expect, it } from "vitest";
import { Output, printHooks } from "../../agent/cli/output.js";
import { parseConfig } from "../../agent/config/load.js";
import { oneOffCreateOptions } from "../../agent/deploy/one-off.js";
import { postdeployEvent } from "../../agent/deploy/notify-outcome.js";
import { greenWasRouted } from "../../agent/deploy/reconcile.js";
import { render, type NotifyDocument } from "../../agent/notify/render.js";
import { isOneOff } from "../../agent/docker/ownership.js";
import { hookFailureWords } from "../../agent/state/describe.js";
import { appYaml, configProblems } from "../support/config-text.js";

const app = appYaml;
const problems = configProblems;

const digest = `sha256:${"a".repeat(64)}`;
const release = { deployId: "12", version: "v1.2.0", digest, imageRef: `ghcr.io/acme/web@${digest}` };

describe("predeploy and postdeploy in agent.yaml", () => {
  it("defaults predeploy's timeout to 10m and postdeploy's to 2m, and leaves both out when not set", () => {
    const c = parseConfig(app(`    predeploy: { command: ["bin/rails", "db:migrate"] }\n    postdeploy: { command: ["bin/notify-cdn"] }\n`));
    expect(c.apps.web?.predeploy).toEqual({ command: ["bin/rails", "db:migrate"], timeout: 600_000 });
    expect(c.apps.web?.postdeploy).toEqual({ command: ["bin/notify-cdn"], timeout: 120_000 });
    const bare = parseConfig(app(""));
    expect(bare.apps.web?.predeploy).toBeUndefined();
    expect(bare.apps.web?.postdeploy).toBeUndefined();
  });

  it("takes a timeout as a duration within its bounds", () => {
    expect(parseConfig(app(`    predeploy: { command: ["true"], timeout: 2s }\n`)).apps.web?.predeploy?.timeout).toBe(2_000);
    expect(problems(app(`    predeploy: { command: ["true"], timeout: 500ms }\n`))).toContain("apps.web.predeploy.timeout: must be between 1s and 6h, got 500ms");
    expect(problems(app(`    postdeploy: { command: ["true"], timeout: 7h }\n`))).toContain("apps.web.postdeploy.timeout: must be between 1s and 6h, got 7h");
  });

  it("refuses an empty command, a command given as one string, and unknown keys, naming the field", () => {
    expect(problems(app(`    predeploy: { command: [] }\n`))).toContain("apps.web.predeploy.command: must not be empty");
    expect(problems(app(`    predeploy: { command: "bin/rails db:migrate" }\n`))).toContain('apps.web.predeploy.command: expected a list of strings such as ["bin/rails", "db:migrate"]');
    expect(problems(app(`    postdeploy: {}\n`))).toContain("apps.web.postdeploy.command");
    expect(problems(app(`    postdeploy: { command: ["x"], retries: 3 }\n`))).toMatch(/apps\.web\.postdeploy.*retries/);
  });
});

describe("the one-off container of a release step", () => {
  const c = parseConfig(
    app(`    route: { rule: "Host(\`shop.example\`)", network: web }
    networks: [backend]
    env: { LOG_LEVEL: info }
    volumes: ["/srv/web/data:/data"]
    labels: { team: shop }
    init: true
    predeploy: { command: ["bin/rails", "db:migrate"], timeout: 30s }
`),
  );
  const web = c.apps.web!;

  it("is made from the release's image by digest with green's env, volumes, network and init, and no route, port or health check", () => {
    const opts = oneOffCreateOptions("web", web, "predeploy", release, { FROM_FILE: "1", LOG_LEVEL: "debug" });
    expect(opts).toEqual({
      name: "web-predeploy",
      Image: `ghcr.io/acme/web@${digest}`,
      Labels: {
        team: "shop",
        "deploy-agent.managed": "true",
        "deploy-agent.app": "web",
        "deploy-agent.role": "predeploy",
        "deploy-agent.version": "v1.2.0",
        "deploy-agent.digest": digest,
        "deploy-agent.deploy-id": "12",
      },
      Env: ["FROM_FILE=1", "LOG_LEVEL=info"],
      ExposedPorts: {},
      Healthcheck: { Test: ["NONE"], Interval: 0, Timeout: 0, StartPeriod: 0, Retries: 0 },
      StopTimeout: 15,
      Cmd: ["bin/rails", "db:migrate"],
      HostConfig: { Init: true, Binds: ["/srv/web/data:/data"], RestartPolicy: { Name: "no" }, NetworkMode: "web" },
      NetworkingConfig: { EndpointsConfig: { web: {} } },
    });
    expect(Object.keys(opts.Labels).some((k) => k.startsWith("traefik."))).toBe(false);
    expect(isOneOff(opts.Labels)).toBe(true);
  });

  it("refuses to build one for a step the app does not configure", () => {
    expect(() => oneOffCreateOptions("web", web, "postdeploy", release)).toThrow(/apps\.web\.postdeploy is not configured/);
  });
});

function captured(): { out: Output; stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return { out: new Output({ write: (t: string) => stdout.push(t) }, { write: (t: string) => stderr.push(t) }, false), stdout, stderr };
}

describe("what agentctl prints of a release step", () => {
  const base = { deployId: "7", app: "web", version: "v2", digest };

  it("prints a failed predeploy's status and its last output lines", () => {
    const { out, stderr } = captured();
    printHooks(out, { ...base, outcome: "failed", hooks: { predeploy: { exitCode: 3, timedOut: false, output: "migrating\nno such table" } } });
    expect(stderr.join("")).toBe("predeploy exited with status 3; its last output lines:\n  migrating\n  no such table\n");
  });

  it("warns of a postdeploy that ran past its timeout, saying the release stays live", () => {
    const { out, stderr } = captured();
    printHooks(out, { ...base, outcome: "succeeded", hooks: { postdeploy: { exitCode: 137, timedOut: true, output: "" } } });
    expect(stderr.join("")).toBe("warning: postdeploy ran past its timeout and was killed; the new release stays live\n");
  });

  it("words a failure the same for the daemon's records, which know the timeout, and for agentctl, which does not", () => {
    const timedOut = { exitCode: 137, timedOut: true, output: "" };
    expect(hookFailureWords(timedOut, 2_000)).toBe("ran past its timeout of 2s and was killed");
    expect(hookFailureWords(timedOut)).toBe("ran past its timeout and was killed");
    expect(hookFailureWords({ exitCode: 3, timedOut: false, output: "" }, 2_000)).toBe("exited with status 3");
    expect(hookFailureWords({ exitCode: 0, timedOut: false, output: "" })).toBeUndefined();
  });

  it("prints nothing for steps that exited 0", () => {
    const { out, stderr, stdout } = captured();
    printHooks(out, { ...base, outcome: "succeeded", hooks: { predeploy: { exitCode: 0, timedOut: false, output: "ok" }, postdeploy: { exitCode: 0, timedOut: false, output: "" } } });
    expect([...stderr, ...stdout]).toEqual([]);
  });
});

describe("the postdeploy-failed notification", () => {
  const outcome = { deployId: "7", app: "web", outcome: "succeeded" as const, version: "v2", digest };
  const facts = (postdeploy?: object) => ({ trigger: "cli" as const, before: undefined, durationMs: 10, notes: postdeploy ? { postdeploy } : {} });

  it("carries the exit code and the output lines, and is sent only for a live release whose postdeploy failed", () => {
    const e = postdeployEvent(outcome, facts({ hook: { exitCode: 4, timedOut: false, output: "purge failed\n" } }));
    expect(e).toMatchObject({ event: "postdeploy-failed", app: "web", deployId: "7", outcome: "succeeded", exitCode: 4, timedOut: false, logTail: ["purge failed"] });
    expect(postdeployEvent(outcome, facts())).toBeUndefined();
    expect(postdeployEvent({ ...outcome, outcome: "failed" }, facts({ hook: { exitCode: 4, timedOut: false, output: "" } }))).toBeUndefined();
  });

  it("renders for every format with the exit code", () => {
    const e = postdeployEvent(outcome, facts({ hook: { exitCode: 4, timedOut: false, output: "purge failed" } }))!;
    const doc: NotifyDocument = { ...e, schema: 1, host: "h1", at: "2026-01-01T00:00:00.000Z" };
    expect(JSON.parse(render("json", doc).body)).toMatchObject({ event: "postdeploy-failed", exitCode: 4, logTail: ["purge failed"] });
    const ntfy = render("ntfy", doc);
    expect(ntfy.headers.title).toBe("web: v2 is live, but its postdeploy exited 4");
    expect(ntfy.body).toContain("exit code: 4");
    expect(ntfy.body).toContain("last output lines:\npurge failed");
    expect(render("discord", doc).body).toContain("exit code");
    expect(render("slack", doc).body).toContain("its postdeploy exited 4");
  });
});

describe("a deploy the agent stopped in a release step", () => {
  const at = "2026-01-01T00:00:00.000Z";
  it("counts as switched in postdeploy (finished at restart) and not in predeploy (undone)", () => {
    expect(greenWasRouted({ steps: [{ name: "postdeploy", startedAt: at }] })).toBe(true);
    expect(greenWasRouted({ steps: [{ name: "predeploy", startedAt: at }] })).toBe(false);
    expect(greenWasRouted({ steps: [{ name: "predeploy", startedAt: at, endedAt: at }] })).toBe(false);
  });
});
