// The example agent.yaml files a person copies: install.sh's example_config and the README's.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";

const ROOT = join(import.meta.dirname, "../..");
export const readRepoFile = (path: string): string => readFileSync(join(ROOT, path), "utf8");

/** The text of example_config's heredoc in install.sh; undefined when the function is not in that form. */
export function installExampleConfig(): string | undefined {
  const body = /^example_config\(\) \{\n {2}cat <<'EOF'\n([\s\S]*?)\nEOF\n\}/m.exec(readRepoFile("install.sh"))?.[1];
  return body === undefined ? undefined : `${body}\n`;
}

/** Every ```yaml block of the README, in order, with the heading it sits under and its indentation removed. */
export function readmeYamlBlocks(): { heading: string; text: string }[] {
  const blocks: { heading: string; text: string }[] = [];
  let heading = "";
  const lines = readRepoFile("README.md").split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith("#")) heading = line.replace(/^#+\s*/, "");
    const open = /^(\s*)```yaml$/.exec(line);
    if (!open) continue;
    const indent = open[1]!.length;
    const body: string[] = [];
    while (++i < lines.length && lines[i]!.trim() !== "```") body.push(lines[i]!.slice(indent));
    blocks.push({ heading, text: `${body.join("\n")}\n` });
  }
  return blocks;
}

/** The README's full example config: the first YAML block of its "Configuration" section. */
export function readmeFullExample(): string | undefined {
  return readmeYamlBlocks().find((b) => b.heading === "Configuration")?.text;
}

/** A standard validator (ajv, JSON Schema 2020-12) for agent.yaml's schema, reporting every problem. */
export function configValidator(schema: object): ValidateFunction {
  // allowUnionTypes: an env value is `type: [string, number, boolean]`, which strict mode otherwise refuses.
  return new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true }).compile(schema);
}
