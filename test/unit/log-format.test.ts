import { describe, expect, it } from "vitest";
import { createLogger, Secret, type LogFormat } from "../../agent/log.js";
import { formatLogLine } from "../../agent/log-format.js";

const DIGEST = `sha256:0123456789ab${"c".repeat(52)}`;

/** A logger writing to an array, as the daemon's would on the journal (or not), with `env` as its environment. */
function capture(opts: { journal?: boolean; format?: LogFormat; env?: NodeJS.ProcessEnv; level?: string } = {}) {
  const lines: string[] = [];
  const log = createLogger({ journal: true, env: {}, level: "debug", ...opts, destination: { write: (s: string) => lines.push(s) } });
  return { log, lines };
}

describe("journal text lines", () => {
  it("jl writes the message first, then app, deploy, step and version, then the other fields with the digest shortened", () => {
    const { log, lines } = capture();
    const run = log.child({ app: "web", deployId: 7, version: "v1.2.0", digest: DIGEST });
    run.info({ step: "start", detail: "healthy after 1.2s" }, "step start done");
    expect(lines).toEqual([`<6>step start done app=web deploy=7 step=start version=v1.2.0 digest=sha256:0123456789ab detail="healthy after 1.2s"\n`]);
  });

  it("jl prefixes each line with the journald priority of its level", () => {
    const { log, lines } = capture();
    log.debug("d");
    log.info("i");
    log.warn({ code: "REGISTRY_UNAVAILABLE" }, "poll failed");
    log.error("e");
    log.fatal("f");
    expect(lines).toEqual(["<7>d\n", "<6>i\n", "<4>poll failed code=REGISTRY_UNAVAILABLE\n", "<3>e\n", "<2>f\n"]);
  });

  it("jl quotes values with spaces, quotes, backslashes, equals signs or nothing, and leaves plain ones bare", () => {
    const { log, lines } = capture();
    log.info({ a: "plain-v1.0", b: 'say "hi"', c: "C:\\dir", d: "k=v", e: "", f: 3, g: true, h: null, apps: ["web", "api"] }, "fields");
    expect(lines).toEqual([`<6>fields a=plain-v1.0 b="say \\"hi\\"" c="C:\\\\dir" d="k=v" e="" f=3 g=true h=null apps=web,api\n`]);
  });

  it("jl keeps a multi-line error on one journal line, escaping its newlines, so a container's line cannot pose as an entry", () => {
    const { log, lines } = capture();
    const tail = "green web exited with code 1; last log lines:\nstarting\n<2>forged by the container\n\u009b31mred";
    log.error({ code: "GREEN_EXITED", err: tail }, "deploy failed; the live release keeps serving");
    expect(lines).toEqual([
      `<3>deploy failed; the live release keeps serving code=GREEN_EXITED err="green web exited with code 1; last log lines:\\nstarting\\n<2>forged by the container\\n\\u009b31mred"\n`,
    ]);
    expect(lines[0]!.split("\n")).toHaveLength(2);
  });

  it("jl escapes control characters in the message itself and shows an Error by its message", () => {
    const { log, lines } = capture();
    log.error({ err: new Error("boom\nat line 2") }, "control request failed\tfor\nverb");
    expect(lines).toEqual([`<3>control request failed\\tfor\\nverb err="boom\\nat line 2"\n`]);
  });

  it("jl applies pino's redact paths before the text is made, and a Secret shows only as redacted", () => {
    const { log, lines } = capture();
    log.info({ password: "hunter2", registry: { token: "tok-123", host: "ghcr.io" }, auth: new Secret("s3cret") }, "login");
    expect(lines).toEqual([`<6>login password=[REDACTED] registry.token=[REDACTED] registry.host=ghcr.io auth=[REDACTED]\n`]);
    expect(lines.join("")).not.toMatch(/hunter2|tok-123|s3cret/);
  });
});

describe("LOG_FORMAT", () => {
  it("jl is text on the journal and JSON elsewhere when unset", () => {
    const onJournal = capture({ journal: true });
    onJournal.log.info({ app: "web" }, "ready");
    expect(onJournal.lines).toEqual(["<6>ready app=web\n"]);
    const elsewhere = capture({ journal: false });
    elsewhere.log.info({ app: "web" }, "ready");
    expect(JSON.parse(elsewhere.lines[0]!)).toMatchObject({ level: 30, svc: "deploy-agent", app: "web", msg: "ready" });
  });

  it("jl keeps pino JSON, with the priority prefix, on the journal when LOG_FORMAT=json", () => {
    const { log, lines } = capture({ env: { LOG_FORMAT: "json" } });
    log.warn({ password: "hunter2" }, "poll failed");
    expect(lines[0]).toMatch(/^<4>\{"level":40,/);
    expect(JSON.parse(lines[0]!.slice(3))).toMatchObject({ msg: "poll failed", password: "[REDACTED]" });
  });

  it("jl writes text with the time and level off the journal when LOG_FORMAT=text", () => {
    const { log, lines } = capture({ journal: false, env: { LOG_FORMAT: "text" } });
    log.warn({ app: "web" }, "poll failed");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z WARN poll failed app=web\n$/);
  });

  it("jl refuses a LOG_FORMAT other than json or text, naming the variable", () => {
    expect(() => capture({ env: { LOG_FORMAT: "xml" } })).toThrow('LOG_FORMAT is "xml"; expected "json" or "text"');
  });
});

describe("formatLogLine", () => {
  it("jl spells an object's fields as dotted keys, two levels deep", () => {
    expect(formatLogLine({ msg: "deploy-agent starting", platform: { os: "linux", architecture: "amd64" }, a: { b: { c: { d: 1 } } } })).toBe(
      'deploy-agent starting platform.os=linux platform.architecture=amd64 a.b.c="{\\"d\\":1}"',
    );
  });


  it("jl leaves out what journalctl shows anyway and starts with the fields when there is no message", () => {
    expect(formatLogLine({ level: 30, time: "2026-01-01T00:00:00.000Z", svc: "deploy-agent", pid: 1, hostname: "h", app: "web", serving: "blue" })).toBe(
      "app=web serving=blue",
    );
  });
});
