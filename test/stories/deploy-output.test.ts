// What `agentctl deploy` prints for a person (not --json), end to end: a good deploy shows each
// step as it happens and ends naming the version that is live; a release that never gets healthy
// shows what the wait sees every few seconds, then why it failed, with its log lines and a hint,
// and exits non-zero while the live release keeps serving.
import Dockerode from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentctl, servedVersion, startAgent, writeConfig, type AgentProcess } from "../support/agent.js";
import { TEST_RUN_LABEL, publishVersion, testRunId } from "../support/images.js";
import { storyScope } from "../support/story-scope.js";
import { startTraefikModel, type TraefikModel } from "../support/traefik-model.js";

const run = testRunId();
const app = `w13-out-${run}`;
const repo = `stories/${app}`;
const host = `${app}.test`;
const scope = storyScope("da-w13-out-");
let agent: AgentProcess;
let traefik: TraefikModel;
let v2Digest: string;
let v3Digest: string;

beforeAll(async () => {
  const dir = scope.dir();
  // Polls only when asked: every deploy below is one a person starts. startTimeout is short so the
  // release that never gets healthy fails after a few progress lines; httpd -v logs every request
  // it answers, so that release has log lines to show.
  writeConfig(
    dir,
    `state: ${dir}/state.json
socket: ${dir}/agent.sock
apps:
  ${app}:
    image: 127.0.0.1:5000/${repo}
    track: latest
    schedule: "0 0 1 1 *"
    port: 8000
    health: { path: /health, startTimeout: 30s }
    command: [httpd, -f, -v, -p, "8000", -h, /www]
    route: { rule: "Host(\`${host}\`)", network: "w13-net-${run}" }
    drain: 1s
    settle: 1s
    stopTimeout: 5s
    labels: { ${TEST_RUN_LABEL}: "${run}" }
`,
  );
  await publishVersion({ repo, tag: "v1", behaviour: "good", version: "v1" });
  v2Digest = (await publishVersion({ repo, tag: "v2", behaviour: "good", version: "v2" })).digest;
  v3Digest = (await publishVersion({ repo, tag: "v3", behaviour: "never-healthy", version: "v3" })).digest;
  traefik = await startTraefikModel({ docker: new Dockerode() });
  agent = scope.track(await startAgent(dir));
});

afterAll(async () => {
  await traefik?.close();
  await scope.close();
});

/** The lines agentctl printed for one deploy, each with the app's prefix shown as `#<id>`. */
function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "").map((l) => l.replace(`${app} `, ""));
}

const short = (digest: string) => digest.slice("sha256:".length, "sha256:".length + 12);

describe("agentctl deploy, as a person reads it", () => {
  it("prints each step in order and ends naming the release that is live", async () => {
    expect((await agentctl(agent, ["deploy", app, "v1"])).code).toBe(0);

    const r = await agentctl(agent, ["deploy", app, "v2"]);

    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    const out = lines(r.stdout);
    const id = /^#(\d+) /.exec(out[0] ?? "")?.[1];
    expect(out[0]).toBe(`#${id}  deploy   v2 (trigger cli)`);
    const steps = out.slice(1, -1).map((l) => /^#\d+ {2}(\w+) +(started|done)/.exec(l)?.slice(1, 3).join(" "));
    expect(steps).toEqual(["resolve", "pull", "create", "start", "confirm", "drain", "stop", "record"].flatMap((s) => [`${s} started`, `${s} done`]));
    // The details a person reads of the switch: what was waited for and what went.
    expect(out).toContainEqual(expect.stringMatching(/^#\d+ {2}confirm  done \(.+\): waited settle \(1s\) for Traefik to switch; not confirmed, as traefik\.api is not set$/));
    expect(out).toContainEqual(expect.stringMatching(/^#\d+ {2}drain    done \(.+\): gave the previous release 1s to finish its requests$/));
    expect(out).toContainEqual(expect.stringMatching(new RegExp(`^#\\d+  stop     done \\(.+\\): stopped and removed ${app}-blue$`)));
    expect(out.at(-1)).toBe(`#${id}  succeeded: v2 (sha256:${short(v2Digest)}) is live in slot green, generation 2`);
    expect(await servedVersion(traefik.url, host)).toBe("v2");
  });

  it("shows the health wait as it goes, then why the new release failed, and exits 1 while the live release serves", async () => {
    const r = await agentctl(agent, ["deploy", app, "v3"]);

    expect(r.code, r.stdout + r.stderr).toBe(1);
    const out = lines(r.stdout);
    const startAt = out.findIndex((l) => /^#\d+ {2}start    started$/.test(l));
    const stoppedAt = out.findIndex((l) => /^#\d+ {2}start    failed$/.test(l));
    expect(startAt).toBeGreaterThan(0);
    expect(stoppedAt).toBe(out.length - 2);
    // Every few seconds while it waits: Docker's health state, the agent's probe, elapsed against startTimeout.
    const waits = out.slice(startAt + 1, stoppedAt);
    expect(waits.length).toBeGreaterThanOrEqual(2);
    const seen = waits.map((l) => {
      const m = /^ {30}waiting for health: Docker health: starting, agent probe: ([^,]+), (\d+)s of 30s$/.exec(l);
      expect(m, l).not.toBeNull();
      return { probe: m![1], elapsed: Number(m![2]) };
    });
    // The first look may come before httpd listens; by the end the probe has its answer.
    expect(seen.at(-1)?.probe).toBe("HTTP 404");
    const elapsed = seen.map((s) => s.elapsed);
    expect(elapsed).toEqual([...elapsed].sort((a, b) => a - b));
    expect(new Set(elapsed).size).toBe(elapsed.length);
    expect(out.at(-1)).toMatch(new RegExp(`^#\\d+  failed: v3 \\(sha256:${short(v3Digest)}\\) was not deployed; the previous release keeps serving$`));

    // The reason, with the new release's own last log lines (httpd -v logs each 404 it answers), and what to do.
    expect(r.stderr).toMatch(
      new RegExp(
        `^error: the new release ${app}-blue \\(v3, ${short(v3Digest)}\\) not healthy after 30s ` +
          `\\(Docker health: starting; agent probe http://[\\d.]+:8000/health: HTTP 404\\); last log lines:\n` +
          `(.*response:404\n)+.*response:404 \\[GREEN_UNHEALTHY\\]\n` +
          `hint: check the app's health path and port, or raise health\\.startTimeout\n$`,
      ),
    );
    expect(await servedVersion(traefik.url, host)).toBe("v2");
    const status = await agentctl(agent, ["status", app]);
    expect(status.stdout).toMatch(/\n {2}live +v2 /);
  });
});
