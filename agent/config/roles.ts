// `roles:` of an app: other containers from the app's image (a worker, a scheduler) that always run
// the release web runs (docs/design.md#roles). The schema of one role, the names a role may not
// take, and the container-name check across apps, which needs the whole `apps` map.
import { z } from "zod";
import { ONE_OFF_ROLES, PROBE_ROLE } from "../labels.js";
import { checkedInTime, DURATION_BOUNDS, duration } from "./duration.js";
import { EnvMap } from "./env-map.js";

const B = DURATION_BOUNDS;

/** Role names become container names (`<app>-<role>-blue`) and a label value: DNS-like, as app names. */
export const ROLE_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * Values the role label already means something else for, or that would read as a slot: the web
 * container carries no role label, probes and one-off containers carry these.
 */
export const RESERVED_ROLE_NAMES: readonly string[] = ["web", PROBE_ROLE, ...ONE_OFF_ROLES, "blue", "green"];

/** How long a role without `health` must run, neither exiting nor restarting, to count as healthy. */
export const ROLE_RUNNING_MS = 10_000;

const RoleHealth = checkedInTime(
  z
    .object({
      /** A Docker health check command (CMD-SHELL form); the role's green must turn healthy with it. */
      command: z.string().min(1, "must not be empty"),
      startTimeout: duration(B.startTimeout).default(60_000),
      interval: duration(B.interval).default(1_000),
    })
    .strict(),
  "startTimeout",
  "the role",
);

export const RoleConfig = z
  .object({
    /** Replaces the image's command (and the app's `command`) for this role. */
    command: z.array(z.string()).min(1, "must list the program and its arguments").optional(),
    health: RoleHealth.optional(),
    /** Merged over the app's `env` (and its `envFile`). */
    env: EnvMap.default({}),
    /** false: the old container of this role is stopped before the new one starts, so two never run at once. */
    overlap: z.boolean().default(true),
  })
  .strict();
export type RoleConfig = z.infer<typeof RoleConfig>;

export const Roles = z.record(
  z
    .string()
    .regex(ROLE_NAME_RE, "role names use lowercase letters, digits and - (they name containers)")
    .refine((n) => !RESERVED_ROLE_NAMES.includes(n), {
      error: (issue) => `role name "${String(issue.input)}" is reserved (${RESERVED_ROLE_NAMES.join(", ")} are not role names); pick another, such as "worker"`,
    }),
  RoleConfig,
);

/** The container name of one role in one slot: `web-worker-blue`. */
export function roleContainerName(app: string, role: string, slot: "blue" | "green"): string {
  return `${app}-${role}-${slot}`;
}

export interface ConfigProblem {
  path: (string | number)[];
  message: string;
}

/**
 * Two containers that would get the same name: every app's `<app>-blue|green` and every role's
 * `<app>-<role>-blue|green`, across apps (app "web-worker" and app "web" with role "worker" both
 * want `web-worker-blue`). Each collision names both owners.
 */
export function slotNameCollisions(apps: Record<string, { roles?: Record<string, unknown> }>): ConfigProblem[] {
  const owners = new Map<string, { path: (string | number)[]; what: string }>();
  const problems: ConfigProblem[] = [];
  const claim = (name: string, path: (string | number)[], what: string) => {
    const first = owners.get(name);
    if (!first) return void owners.set(name, { path, what });
    problems.push({ path, message: `${what} and ${first.what} would both be named ${name}; rename the app or the role` });
  };
  for (const app of Object.keys(apps)) {
    for (const slot of ["blue", "green"] as const) claim(`${app}-${slot}`, [app], `app "${app}"`);
  }
  for (const [app, cfg] of Object.entries(apps)) {
    for (const role of Object.keys(cfg.roles ?? {})) {
      for (const slot of ["blue", "green"] as const) claim(roleContainerName(app, role, slot), [app, "roles", role], `role "${role}" of app "${app}"`);
    }
  }
  return dedupe(problems);
}

/** One problem per pair: blue and green collide together. */
function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path.join(".")}|${p.message.replace(/ would both be named \S+;/, "")}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
