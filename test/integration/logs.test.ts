// A container's output read through the Engine's log API as `agentctl logs` gets it
// (agent/docker/logs.ts): lines per stream, terminal controls removed, tail and since, a followed
// log that ends with its container or when its reader stops, and no reading of a container the
// agent does not own. No daemon: the docker/ operation the daemon calls.
import { describe, expect, it } from "vitest";
import type { LogLine } from "../../agent/docker/engine.js";
import { ownerLabels } from "../../agent/docker/ownership.js";
import { TEST_RUN_LABEL } from "../support/images.js";
import { waitFor } from "../support/agent.js";
import { ownedEngineSuite } from "../support/owned-engine.js";

const t = ownedEngineSuite("lg");
const { run, docker, me } = t;

/** Starts a container of `app` running `sh -c script`, owned by this test's agent unless `foreign`. */
async function started(app: string, script: string, foreign = false): Promise<string> {
  const labels = { [TEST_RUN_LABEL]: run, ...(foreign ? {} : ownerLabels(app, me)) };
  const c = await docker.createContainer({ name: `${app}-blue`, Image: t.image, Entrypoint: ["sh", "-c", script], Labels: labels, HostConfig: { Init: true } });
  await c.start();
  return c.id;
}

async function read(app: string, id: string, opts: { follow: boolean; tail?: number; since?: number }, signal?: AbortSignal): Promise<LogLine[]> {
  const lines: LogLine[] = [];
  await t.engine.logs(app, id, opts, (l) => lines.push(l), signal);
  return lines;
}

describe("a container's logs", () => {
  // The Engine's log keeps a line without a newline once the container exits.
  it("come as lines per stream with the Engine's time, without terminal controls", async () => {
    const app = `lg-lines-${run}`;
    const id = await started(app, 'echo one; printf "\\033[31mred\\033[0m\\n"; sleep 0.1; echo two >&2; printf "no newline"');
    await waitFor("the output", async () => (await read(app, id, { follow: false })).length === 4 || undefined, 10_000);
    const lines = await read(app, id, { follow: false });
    expect(lines.map((l) => [l.stream, l.line])).toEqual([
      ["stdout", "one"],
      ["stdout", "red"],
      ["stderr", "two"],
      ["stdout", "no newline"],
    ]);
    for (const l of lines) expect(Date.parse(l.time ?? "")).toBeGreaterThan(Date.now() - 60_000);
    expect((await read(app, id, { follow: false, tail: 2 })).map((l) => l.line)).toEqual(["two", "no newline"]);
    expect(await read(app, id, { follow: false, since: Math.floor(Date.now() / 1000) + 5 })).toEqual([]);
  });

  it("followed, carry on as the container writes and end when it stops", async () => {
    const app = `lg-follow-${run}`;
    const id = await started(app, "for i in 1 2 3; do echo tick $i; sleep 0.5; done; exit 0");
    const lines = await read(app, id, { follow: true });
    expect(lines.map((l) => l.line)).toEqual(["tick 1", "tick 2", "tick 3"]);
  });

  it("followed, end when the reader stops, with the container still running", async () => {
    const app = `lg-stop-${run}`;
    const id = await started(app, "while true; do echo tick; sleep 0.2; done");
    const stop = new AbortController();
    const lines: LogLine[] = [];
    const reading = t.engine.logs(app, id, { follow: true }, (l) => {
      lines.push(l);
      if (lines.length === 3) stop.abort();
    }, stop.signal);
    await expect(reading).resolves.toBeUndefined();
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect((await docker.getContainer(id).inspect()).State.Running).toBe(true);
  });

  it("of a container the agent did not create are not read", async () => {
    const app = `lg-foreign-${run}`;
    const id = await started(app, "echo secret; sleep 60", true);
    await expect(read(app, id, { follow: false })).rejects.toMatchObject({ code: "CONTAINER_CONFLICT" });
  });
});
