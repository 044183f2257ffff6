// An `env` map in agent.yaml (an app's, a role's): variable names checked, values as strings.
import { z } from "zod";

/** What a shell (and `docker run -e`) accepts as a variable name. */
export const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const ENV_NAME_RULE = "letters, digits and _, not starting with a digit";

export const EnvMap = z
  .record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String))
  .superRefine((env, ctx) => {
    for (const key of Object.keys(env).filter((k) => !ENV_NAME_RE.test(k))) {
      ctx.addIssue({ code: "custom", path: [key], message: `"${key}" is not a valid variable name (${ENV_NAME_RULE})` });
    }
  });

/** The `KEY=VALUE` list the Engine takes, from env maps merged in order (a later one wins). */
export function envList(...layers: Record<string, string>[]): string[] {
  return Object.entries(Object.assign({}, ...layers) as Record<string, string>).map(([k, v]) => `${k}=${v}`);
}
