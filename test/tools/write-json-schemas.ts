// `npm run schemas`: rewrites docs/json/ from agent/cli/json-output.ts, removing files no command prints any more.
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { JSON_SCHEMA_DIR, jsonSchemaFiles } from "../../agent/cli/json-output.js";

const dir = join(import.meta.dirname, "../../..", JSON_SCHEMA_DIR);
mkdirSync(dir, { recursive: true });
const files = jsonSchemaFiles();
for (const name of readdirSync(dir)) if (name.endsWith(".schema.json") && !files.has(name)) rmSync(join(dir, name));
for (const [name, text] of files) writeFileSync(join(dir, name), text);
console.log(`wrote ${files.size} schemas to ${JSON_SCHEMA_DIR}/`);
