// The README is the config reference: its example parses as written, and every key the schema
// accepts is documented in its tables.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { parseConfig } from "../../agent/config/load.js";
import { DURATION_BOUNDS, formatDurationMs } from "../../agent/config/duration.js";
import { AppConfig, Config } from "../../agent/config/schema.js";

const readme = readFileSync(join(import.meta.dirname, "../../README.md"), "utf8");
const configSection = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("## What a deploy does"));

/** Dotted key paths of an object schema, descending into nested objects (not records). */
function keyPaths(schema: z.ZodType, prefix = ""): string[] {
  let s: z.ZodType = schema;
  for (;;) {
    const def = (s as unknown as { def: { type: string; innerType?: z.ZodType; in?: z.ZodType; out?: z.ZodType } }).def;
    if (def.type === "default" || def.type === "optional" || def.type === "nullable") s = def.innerType!;
    // A preprocessed section (null read as left out) is a pipe from a transform into the real schema.
    else if (def.type === "pipe") s = (def.in as unknown as { def: { type: string } }).def.type === "transform" ? def.out! : def.in!;
    else break;
  }
  if (!(s instanceof z.ZodObject)) return [];
  return Object.entries(s.shape as Record<string, z.ZodType>).flatMap(([k, v]) => {
    const nested = keyPaths(v, `${prefix}${k}.`);
    return nested.length > 0 ? nested : [`${prefix}${k}`];
  });
}

describe("README", () => {
  it("has a configuration example that parses as written", () => {
    const block = /```yaml\n([\s\S]*?)```/.exec(configSection)?.[1];
    expect(block).toBeDefined();
    const c = parseConfig(block!, "README example");
    expect(c.apps.web).toMatchObject({ image: "ghcr.io/acme/web", port: 8000, keep: 3, drain: 10_000 });
    expect(c.traefik.api).toBe("http://127.0.0.1:8080");
  });

  it("documents every top-level key", () => {
    const documented = keyPaths(Config).filter((k) => !k.startsWith("apps")).map((k) => (k.startsWith("registries") ? "registries" : k));
    const missing = documented.filter((k) => !configSection.includes(`| \`${k}\` |`));
    expect(missing).toEqual([]);
  });

  it("documents every key of an app", () => {
    // The walk itself must see the schema's keys, or this check could not fail.
    expect(keyPaths(AppConfig)).toEqual(expect.arrayContaining(["image", "health.path", "route.network", "restart", "labels"]));
    const missing = keyPaths(AppConfig).filter((k) => !configSection.includes(`| \`${k}\` |`));
    expect(missing).toEqual([]);
  });

  it("states each duration's bounds in its key's row", () => {
    const keys: Record<keyof typeof DURATION_BOUNDS, string> = {
      startTimeout: "health.startTimeout",
      interval: "health.interval",
      drain: "drain",
      stopTimeout: "stopTimeout",
      settle: "settle",
      watch: "watch",
      dockerTimeout: "docker.timeout",
      jitter: "poll.jitter",
      maxBackoff: "poll.maxBackoff",
      minAge: "minAge",
      // postdeploy.timeout has the same bounds; its row states them too.
      hookTimeout: "predeploy.timeout",
    };
    const wrong = Object.entries(DURATION_BOUNDS).flatMap(([k, b]) => {
      const row = configSection.split("\n").find((l) => l.startsWith(`| \`${keys[k as keyof typeof keys]}\` |`)) ?? "";
      return row.includes(`(${formatDurationMs(b.minMs)}–${formatDurationMs(b.maxMs)}`) ? [] : [k];
    });
    expect(wrong).toEqual([]);
  });

  it("names the one test command that CI runs", () => {
    expect(readme).toContain("```sh\nnpm test\n```");
    expect(readFileSync(join(import.meta.dirname, "../../.ci/run"), "utf8")).toMatch(/npm test/);
  });
});
