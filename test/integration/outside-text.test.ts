// What a container prints reaches the agent's messages (and from there the state file, the journal
// and agentctl) bounded and without terminal control: a release must not be able to clear a
// person's screen, retitle their terminal or fill the state file through its logs or health output.
import { describe, expect, it } from "vitest";
import { ownerLabels } from "../../agent/docker/ownership.js";
import { AgentError } from "../../agent/errors.js";
import { TEST_RUN_LABEL } from "../support/images.js";
import { ownedEngineSuite } from "../support/owned-engine.js";

const t = ownedEngineSuite("txt");
const { run, docker, me } = t;
const APP = `txt-${run}`;
/** Escapes a hostile release might print: clear screen, set the terminal title, an 8-bit CSI, a bell. */
const HOSTILE = String.raw`\033[2J\033]0;pwned\007\302\2332J\a`;

/** Starts a container of ours running `script` under busybox sh, with an optional health check command. */
async function runScript(name: string, script: string, health?: string): Promise<string> {
  const c = await docker.createContainer({
    name: `${APP}-${name}`,
    Image: t.image,
    Entrypoint: ["/bin/sh", "-c", script],
    Labels: { [TEST_RUN_LABEL]: run, ...ownerLabels(APP, me) },
    ...(health ? { Healthcheck: { Test: ["CMD-SHELL", health], Interval: 200_000_000, Timeout: 1_000_000_000, Retries: 1 } } : {}),
  });
  await c.start();
  return c.id;
}

async function failure(work: Promise<unknown>): Promise<AgentError> {
  const err = await work.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(AgentError);
  return err as AgentError;
}

function expectClean(text: string): void {
  expect(text).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
}

describe("text from a container", () => {
  it("reaches GREEN_EXITED with its log tail cut to a few KB and without escapes", async () => {
    // One 200 KB line, then the escapes at the end, where the tail keeps them.
    const id = await runScript("exits", `yes 0123456789abcdef | head -c 200000 | tr -d '\\n'; printf '${HOSTILE}last words\\n'; exit 3`);
    await docker.getContainer(id).wait();
    const err = await failure(t.engine.checkRunning(id, "green txt"));
    expect(err.code).toBe("GREEN_EXITED");
    expect(err.message).toContain("exit code 3");
    expect(err.message).toContain("last words");
    expect(err.message).toContain("bytes cut]");
    expect(Buffer.byteLength(err.message)).toBeLessThan(6 * 1024);
    expectClean(err.message);
  });

  it("reaches GREEN_UNHEALTHY with its health check output bounded and without escapes", async () => {
    const id = await runScript("unhealthy", "sleep 600", `yes 'unhealthy ' | head -c 50000; printf '${HOSTILE}'; exit 1`);
    const err = await failure(t.engine.waitHealthy(id, { deadlineMs: 20_000, successes: 1, label: "green txt" }));
    expect(err.code).toBe("GREEN_UNHEALTHY");
    expect(err.message).toContain("unhealthy \nunhealthy");
    expect(Buffer.byteLength(err.message)).toBeLessThan(6 * 1024);
    expectClean(err.message);
  });
});
