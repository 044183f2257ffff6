// The agent's configuration file (agent.yaml): its zod schema and the Config type the rest reads.
// Every key is documented in README.md ("Configuration"); test/unit/readme.test.ts keeps them in step.
import { validate as validateCron } from "node-cron";
import { z } from "zod";
import { RESERVED_LABEL_KEYS } from "../labels.js";

const DURATION_RE = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/;
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const;

/** Parses "500ms", "10s", "2m", "1h" into milliseconds; undefined when malformed. */
export function parseDurationMs(text: string): number | undefined {
  const m = DURATION_RE.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]);
}

/** A duration written as "10s" in YAML, a number of milliseconds once parsed. */
const Duration = z.string({ error: 'expected a duration such as "10s", "500ms" or "2m"' }).transform((text, ctx) => {
  const ms = parseDurationMs(text);
  if (ms === undefined) {
    ctx.addIssue({ code: "custom", message: `expected a duration such as "10s", "500ms" or "2m", got "${text}"` });
    return z.NEVER;
  }
  return ms;
});

/** App names become container names (`<app>-blue`) and Traefik router names, so keep them DNS-like. */
export const APP_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** `ghcr.io/acme/web`: registry host (optional, defaults to Docker Hub), repository path, no tag. */
const IMAGE_RE = /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;

const NonEmpty = z.string().min(1, "must not be empty");

export const HealthConfig = z
  .object({
    path: z
      .string({ error: 'expected a URL path such as "/health"' })
      .refine((p) => p.startsWith("/"), 'must start with "/"'),
    startTimeout: Duration.default(60_000),
    interval: Duration.default(1_000),
    /** A Docker health check command (CMD-SHELL form) used instead of the one the agent builds. */
    command: NonEmpty.optional(),
    /** How many probes in a row must pass before green counts as healthy. */
    successes: z.number().int().min(1).max(20).default(2),
  })
  .strict();
export type HealthConfig = z.infer<typeof HealthConfig>;

export const RouteConfig = z
  .object({
    rule: NonEmpty,
    entrypoints: z.array(NonEmpty).min(1, "must list at least one entrypoint").default(["web"]),
    certresolver: NonEmpty.optional(),
    middlewares: z.array(NonEmpty).default([]),
    network: NonEmpty,
    /** Base router priority; the app's generation is added so the newest container wins. */
    priority: z.number().int().min(1).max(1_000_000_000).default(1_000_000),
  })
  .strict();
export type RouteConfig = z.infer<typeof RouteConfig>;

export const AppConfig = z
  .object({
    image: z
      .string({ error: "expected an image name such as ghcr.io/owner/name" })
      .refine((s) => IMAGE_RE.test(s), "expected an image name such as ghcr.io/owner/name, without tag or digest"),
    track: NonEmpty.default("latest"),
    schedule: z
      .string()
      .refine((s) => validateCron(s), 'expected a cron expression such as "*/5 * * * *" (5 fields, or 6 with seconds first)')
      .default("*/5 * * * *"),
    port: z.number({ error: "expected a port number" }).int().min(1).max(65535),
    health: HealthConfig,
    route: RouteConfig.optional(),
    drain: Duration.default(10_000),
    stopTimeout: Duration.default(15_000),
    settle: Duration.default(3_000),
    keep: z.number().int().min(1).max(50).default(3),
    env: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()]).transform(String)).default({}),
    envFile: NonEmpty.optional(),
    volumes: z.array(NonEmpty).default([]),
    networks: z.array(NonEmpty).default([]),
    /** Extra labels on the app's containers; traefik.* and the agent's own keys are reserved. */
    labels: z
      .record(z.string(), z.string())
      .refine((l) => Object.keys(l).every((k) => !k.startsWith("traefik.") && !RESERVED_LABEL_KEYS.includes(k)), {
        message: `"traefik.*" and ${RESERVED_LABEL_KEYS.join(", ")} are set by the agent`,
      })
      .default({}),
    command: z.array(z.string()).optional(),
    init: z.boolean().default(true),
    restart: z.enum(["no", "always", "unless-stopped", "on-failure"]).default("unless-stopped"),
  })
  .strict();
export type AppConfig = z.infer<typeof AppConfig>;

export const RegistryCredentials = z
  .object({
    username: NonEmpty,
    /** A file holding the password or token; must not be readable by group or others. */
    passwordFile: NonEmpty.optional(),
    /** Name of a systemd credential (LoadCredential=), read from $CREDENTIALS_DIRECTORY. */
    credential: NonEmpty.optional(),
  })
  .strict()
  .refine((c) => c.passwordFile !== undefined || c.credential !== undefined, {
    message: "needs passwordFile or credential",
  });
export type RegistryCredentials = z.infer<typeof RegistryCredentials>;

export const Config = z
  .object({
    state: NonEmpty.default("/var/lib/deploy-agent/state.json"),
    socket: NonEmpty.default("/run/deploy-agent/agent.sock"),
    docker: z
      .object({
        socket: NonEmpty.default("/var/run/docker.sock"),
        /** Deadline of every non-streaming Engine call; a frozen Engine fails the call instead of hanging it. */
        timeout: Duration.default(30_000),
      })
      .strict()
      .default({ socket: "/var/run/docker.sock", timeout: 30_000 }),
    traefik: z
      .object({
        api: z.url({ error: "expected an http(s) URL such as http://127.0.0.1:8080" }).optional(),
      })
      .strict()
      .default({}),
    /** Credentials per registry host, e.g. `ghcr.io`. */
    registries: z.record(z.string(), RegistryCredentials).default({}),
    /** Docker's config.json, read for `auths` when no registry entry matches. */
    dockerConfig: NonEmpty.optional(),
    /**
     * How polls are spread: at most `concurrency` registry checks at once, each tick delayed by up to
     * `jitter`; a registry answering 5xx or unreachable is left alone for 5 s doubling up to `maxBackoff`.
     */
    poll: z
      .object({
        concurrency: z.number().int().min(1).max(64).default(4),
        jitter: Duration.default(10_000),
        maxBackoff: Duration.default(300_000),
      })
      .strict()
      .default({ concurrency: 4, jitter: 10_000, maxBackoff: 300_000 }),
    /** Deploys kept in the state file per app. */
    history: z.number().int().min(5).max(1000).default(50),
    apps: z
      .record(z.string().regex(APP_NAME_RE, "app names use lowercase letters, digits and - (they name containers and Traefik routers)"), AppConfig)
      .refine((apps) => Object.keys(apps).length > 0, "must define at least one app"),
  })
  .strict();
export type Config = z.infer<typeof Config>;
