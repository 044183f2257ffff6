// `deploy-agent schema` (agent/config/json-schema.ts) against a standard validator (ajv, JSON Schema
// 2020-12): the examples a person copies validate, broken ones do not, and the schema never refuses
// what the loader accepts. The schema comes from configJsonSchema(), the function main.ts prints;
// one test runs the built binary (dist/, npm run build) to see that it prints exactly that.
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { configJsonSchema } from "../../agent/config/json-schema.js";
import { parseConfig } from "../../agent/config/load.js";
import { appYaml } from "../support/config-text.js";
import { configValidator, installExampleConfig, readmeFullExample, readmeYamlBlocks } from "../support/example-configs.js";

const schema = configJsonSchema();
const validate = configValidator(schema);

/** The validator's problems for a YAML text, as `path: message` lines; empty when it validates. */
function schemaProblems(yaml: string): string[] {
  const doc: unknown = parse(yaml) ?? {};
  if (validate(doc)) return [];
  return (validate.errors ?? []).map((e) => `${e.instancePath || "/"}: ${e.message ?? e.keyword}`);
}

function loaderAccepts(yaml: string): boolean {
  try {
    parseConfig(yaml, "agent.yaml");
    return true;
  } catch {
    return false;
  }
}

const MODELINE = "# yaml-language-server: $schema=./agent.schema.json\n";

describe("deploy-agent schema", () => {
  it("prints the JSON Schema that configJsonSchema() generates, and exits 0", () => {
    const main = join(import.meta.dirname, "../../dist/agent/daemon/main.js");
    const out = execFileSync(process.execPath, [main, "schema"], { encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
    expect(JSON.parse(out)).toEqual(schema);
  });

  it("is a JSON Schema 2020-12 of an object that needs apps and refuses unknown top-level keys", () => {
    expect(schema).toMatchObject({ $schema: "https://json-schema.org/draft/2020-12/schema", type: "object", required: ["apps"], additionalProperties: false });
  });

  it("gives each default in the form a person writes it, so an editor's completion validates", () => {
    const defaults: { path: string; node: Record<string, unknown> }[] = [];
    const walk = (node: unknown, path: string): void => {
      if (node === null || typeof node !== "object") return;
      if (!Array.isArray(node) && "default" in node) defaults.push({ path, node: node as Record<string, unknown> });
      for (const [k, v] of Object.entries(node)) walk(v, `${path}/${k}`);
    };
    walk(schema, "");
    expect(defaults.length).toBeGreaterThan(10);
    const ajv = new Ajv2020({ strict: false });
    for (const { path, node } of defaults) {
      const { default: value, ...rest } = node;
      expect(ajv.validate(rest, value), `default at ${path}: ${JSON.stringify(value)}`).toBe(true);
    }
  });
});

describe("the examples a person copies", () => {
  it("the README's full example starts with the modeline, and the loader accepts it and it validates against the schema", () => {
    const text = readmeFullExample()!;
    expect(text.startsWith(MODELINE)).toBe(true);
    expect(loaderAccepts(text)).toBe(true);
    expect(schemaProblems(text)).toEqual([]);
  });

  it("install.sh's example starts with the modeline, and the loader accepts it and it validates against the schema", () => {
    const text = installExampleConfig()!;
    expect(text.startsWith(MODELINE)).toBe(true);
    expect(loaderAccepts(text)).toBe(true);
    expect(schemaProblems(text)).toEqual([]);
  });

  it("every README YAML block the loader accepts (alone, or with the minimal app added) validates", () => {
    let accepted = 0;
    for (const { heading, text } of readmeYamlBlocks()) {
      const doc = parse(text) as Record<string, unknown> | null;
      const whole = doc !== null && typeof doc === "object" && !("apps" in doc) ? `${text}${appYaml("")}` : text;
      if (!loaderAccepts(whole)) continue;
      accepted++;
      expect(schemaProblems(whole), `README block under "${heading}"`).toEqual([]);
    }
    expect(accepted).toBeGreaterThanOrEqual(5);
  });
});

/** Documents the loader accepts, reaching the corners of the schema: every one validates. */
const GOOD: Record<string, string> = {
  "the minimal app": appYaml(""),
  "sections left empty (YAML null)": `docker:\ntraefik:\nregistries:\npoll:\nnotify:\n${appYaml("")}`,
  "every duration form, blanks around one": `docker: { timeout: "1500ms" }\npoll: { jitter: 0s, maxBackoff: 1.5h }\n${appYaml('    drain: " 2m "\n    watch: 10m\n    minAge: 0s\n')}`,
  "env values as numbers and booleans": appYaml("    env: { PORT: 8000, DEBUG: true, NAME: web }\n"),
  "roles, release steps, window and notify mode": appYaml(
    `    mode: notify
    window: ["Mon-Fri 02:00-05:00"]
    predeploy: { command: [bin/migrate], timeout: 5m }
    postdeploy: { command: [bin/purge] }
    roles:
      worker: { command: [bin/worker], health: { command: "true", startTimeout: 30s }, overlap: false }
`,
  ),
  "a Swarm app with its replicas and placement": appYaml('    backend: swarm\n    replicas: 2\n    placement: ["node.role == worker"]\n    volumes: ["data:/data"]\n'),
  "registry credentials and notify targets": `registries:
  ghcr.io: { username: bot, credential: ghcr-token }
notify:
  - url: https://ntfy.example/deploys
    format: ntfy
    events: [deployed, failed]
${appYaml("")}`,
};

/** Documents the loader refuses for a reason JSON Schema can say: the schema refuses each too. */
const BAD: Record<string, string> = {
  "a wrong type (port as a string)": appYaml("").replace("port: 8000", 'port: "8000"'),
  "an unknown key in an app": appYaml("    replica: 2\n"),
  "an unknown top-level key": `bogus: 1\n${appYaml("")}`,
  "a bad enum (restart)": appYaml("    restart: sometimes\n"),
  "a bad enum (backend)": appYaml("    backend: kubernetes\n"),
  "replicas out of bounds": appYaml("    backend: swarm\n    replicas: 0\n"),
  "a bad notify event": `notify: [{ url: https://x.example, events: [exploded] }]\n${appYaml("")}`,
  "a malformed duration": appYaml("    drain: 10 minutes\n"),
  "a duration as a number": appYaml("    drain: 10\n"),
  "an app name with capitals": appYaml("").replace("  web:", "  Web:"),
  "a missing required key (health)": appYaml("").replace("    health: { path: /health }\n", ""),
  "no apps at all": "traefik: { api: http://127.0.0.1:8080 }\n",
};

describe("the loader and the schema agree", () => {
  for (const [name, yaml] of Object.entries(GOOD)) {
    it(`both accept ${name}`, () => {
      expect(loaderAccepts(yaml)).toBe(true);
      expect(schemaProblems(yaml)).toEqual([]);
    });
  }
  for (const [name, yaml] of Object.entries(BAD)) {
    it(`both refuse ${name}`, () => {
      expect(loaderAccepts(yaml)).toBe(false);
      expect(schemaProblems(yaml)).not.toEqual([]);
    });
  }
});
