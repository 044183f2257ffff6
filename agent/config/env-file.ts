// A Docker env file as `docker run --env-file` reads it: KEY=VALUE per line, `#` comments and blank
// lines skipped, no quote processing (https://docs.docker.com/reference/cli/docker/container/run/#env).
// One reader for the check at start (config/files.ts) and the read at each deploy (deploy/steps.ts).
import { ENV_NAME_RE, ENV_NAME_RULE } from "./schema.js";

export interface EnvFile {
  env: Record<string, string>;
  /** Each bad line, named by `source` and its number; the env holds the good lines only. */
  problems: string[];
}

export function parseEnvFile(text: string, source: string): EnvFile {
  const env: Record<string, string> = {};
  const problems: string[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const eq = line.indexOf("=");
    if (eq <= 0) return void problems.push(`${source} line ${i + 1}: expected KEY=VALUE`);
    const key = line.slice(0, eq).trim();
    if (!ENV_NAME_RE.test(key)) return void problems.push(`${source} line ${i + 1}: "${key}" is not a valid variable name (${ENV_NAME_RULE})`);
    env[key] = line.slice(eq + 1);
  });
  return { env, problems };
}
