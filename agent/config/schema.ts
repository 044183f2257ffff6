// The agent's configuration file (agent.yaml): its zod schema and the Config type the rest reads.
// Every key is documented in README.md ("Configuration"); test/unit/readme.test.ts keeps them in step.
import { isAbsolute } from "node:path";
import { validate as validateCron } from "node-cron";
import { z } from "zod";
import { RESERVED_LABEL_KEYS } from "../labels.js";
import { NOTIFY_EVENTS } from "../notify/event.js";
import { checkedInTime, DURATION_BOUNDS, duration } from "./duration.js";
import { EnvMap } from "./env-map.js";
import { parseListen } from "./listen.js";
import { Roles, slotNameCollisions } from "./roles.js";
import { Backend, Placement, Replicas } from "./swarm.js";
import { parseWindow, type DeployWindow } from "./window.js";

export { parseDurationMs } from "./duration.js";

const B = DURATION_BOUNDS;

/** App names become container names (`<app>-blue`) and Traefik router names, so keep them DNS-like. */
export const APP_NAME_RE = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** `ghcr.io/acme/web`: registry host (optional, defaults to Docker Hub), repository path, no tag. */
const IMAGE_RE = /^(?:[a-zA-Z0-9.-]+(?::\d+)?\/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$/;

const NonEmpty = z.string().min(1, "must not be empty");

/** A file the daemon reads: relative paths would depend on its working directory (/ under systemd). */
const AbsolutePath = NonEmpty.refine((p) => isAbsolute(p), 'must be an absolute path (starting with "/")');

export { ENV_NAME_RE, ENV_NAME_RULE } from "./env-map.js";

/**
 * A systemd credential name is a file name in $CREDENTIALS_DIRECTORY: no "/", not "." or ".."
 * (https://systemd.io/CREDENTIALS/, src/basic/path-util.h `filename_is_valid`).
 */
const CredentialName = NonEmpty.refine((n) => !n.includes("/") && n !== "." && n !== ".." && n.length <= 255, {
  message: 'must be the name of a systemd credential (LoadCredential=NAME:FILE), a file name without "/"',
});

/**
 * An http(s) URL; any other scheme is refused. `example` ends the messages (" such as …", or "").
 * Only the scheme is echoed: the URL may carry a password or a webhook token.
 */
const httpUrl = (example: string) =>
  z.string({ error: `expected an http(s) URL${example}` }).refine((u) => URL.canParse(u) && ["http:", "https:"].includes(new URL(u).protocol), {
    error: (issue) => {
      const u = String(issue.input);
      const got = URL.canParse(u) ? `, got ${new URL(u).protocol}//` : "";
      return `expected an http:// or https:// URL${example}${got}`;
    },
  });

/** Traefik's API answers over http, or https behind a TLS entrypoint; nothing else can confirm a switch. */
const HttpUrl = httpUrl(" such as http://127.0.0.1:8080");

export const HealthConfig = checkedInTime(
  z
    .object({
      path: z
        .string({ error: 'expected a URL path such as "/health"' })
        .refine((p) => p.startsWith("/"), 'must start with "/"'),
      startTimeout: duration(B.startTimeout).default(60_000),
      interval: duration(B.interval).default(1_000),
      /** A Docker health check command (CMD-SHELL form) used instead of the one the agent builds. */
      command: NonEmpty.optional(),
      /** How many probes in a row must pass before green counts as healthy. */
      successes: z.number().int().min(1).max(20).default(2),
    })
    .strict(),
  "health.startTimeout",
  "the new release",
);
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

/** `["Mon-Fri 02:00-05:00", "Sat,Sun 00:00-24:00"]`: each entry parsed at load, its errors naming it. */
const DeployWindows = z
  .array(z.string({ error: 'expected a window such as "Mon-Fri 02:00-05:00"' }))
  .min(1, "must list at least one window (leave window out to deploy at any time)")
  .transform((list, ctx) => {
    const out: DeployWindow[] = [];
    list.forEach((text, i) => {
      try {
        out.push(parseWindow(text));
      } catch (err) {
        ctx.addIssue({ code: "custom", path: [i], message: (err as Error).message });
      }
    });
    return out;
  });

/**
 * A release step: a one-off container from the new release's image, with the app's env, volumes
 * and networks (deploy/one-off.ts). `predeploy` runs before green is created, `postdeploy` after the switch.
 */
const releaseStep = (defaultTimeoutMs: number) =>
  z
    .object({
      command: z
        .array(z.string({ error: "expected a string" }), { error: 'expected a list of strings such as ["bin/rails", "db:migrate"]' })
        .min(1, 'must not be empty: list the program and its arguments, such as ["bin/rails", "db:migrate"]'),
      timeout: duration(B.hookTimeout).default(defaultTimeoutMs),
    })
    .strict();
export type ReleaseStepConfig = z.infer<ReturnType<typeof releaseStep>>;

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
    drain: duration(B.drain).default(10_000),
    stopTimeout: duration(B.stopTimeout).default(15_000),
    settle: duration(B.settle).default(3_000),
    /** After a switch, how long green is watched with blue kept stopped for an automatic rollback (deploy/watch.ts); 0 = none. */
    watch: duration(B.watch).default(0),
    keep: z.number().int().min(1).max(50).default(3),
    env: EnvMap.default({}),
    /** Checked at start with the file system (config/files.ts): present, private, valid names. */
    envFile: AbsolutePath.optional(),
    /** Bind mounts of the Docker socket or the host's system folders are refused (config/volumes.ts) unless `unsafeVolumes`. */
    volumes: z.array(NonEmpty).default([]),
    unsafeVolumes: z.boolean().default(false),
    networks: z.array(NonEmpty).default([]),
    /** Extra labels on the app's containers; traefik.* and the agent's own keys are reserved. */
    labels: z
      .record(z.string(), z.string())
      // Any case: Traefik matches label keys without regard to case, so "Traefik.http…" routes too.
      .refine((l) => Object.keys(l).every((k) => !k.toLowerCase().startsWith("traefik.") && !RESERVED_LABEL_KEYS.includes(k.toLowerCase())), {
        message: `"traefik.*" (in any case) and ${RESERVED_LABEL_KEYS.join(", ")} are set by the agent`,
      })
      .default({}),
    command: z.array(z.string()).optional(),
    init: z.boolean().default(true),
    restart: z.enum(["no", "always", "unless-stopped", "on-failure"]).default("unless-stopped"),
    /** `auto` deploys what polling finds; `notify` only records it as available for `agentctl deploy` (deploy/gates.ts). */
    mode: z.enum(["auto", "notify"]).default("auto"),
    /** When polling may switch the app, in the host's local time (config/window.ts); absent, at any time. */
    window: DeployWindows.optional(),
    /** How long polling waits after first seeing a digest on the tracked tag before deploying it; 0 is off. */
    minAge: duration(B.minAge).default(0),
    /** Release step before green is created (migrations): its failure fails the deploy before anything serves. Not run by a rollback. */
    predeploy: releaseStep(600_000).optional(),
    /** Release step after the switch (notifications, cache purges): its failure is recorded and notified, never rolled back. */
    postdeploy: releaseStep(120_000).optional(),
    /** Other containers of the app from the same image (a worker), on the same release as web (config/roles.ts, deploy/roles.ts). */
    roles: Roles.default({}),
    /** Blue and green containers on this host, or one Swarm service per role (config/swarm.ts, docs/design.md#swarm-services). */
    backend: Backend,
    /** Tasks of each of the app's Swarm services; only with `backend: swarm` (config/swarm.ts). */
    replicas: Replicas,
    /** Swarm placement constraints of the app's services; only with `backend: swarm`. */
    placement: Placement,
  })
  .strict();
export type AppConfig = z.infer<typeof AppConfig>;

export const RegistryCredentials = z
  .object({
    username: NonEmpty,
    /** A file holding the password or token; must not be readable by group or others. */
    passwordFile: AbsolutePath.optional(),
    /** Name of a systemd credential (LoadCredential=), read from $CREDENTIALS_DIRECTORY. */
    credential: CredentialName.optional(),
  })
  .strict()
  .refine((c) => c.passwordFile !== undefined || c.credential !== undefined, {
    message: "needs passwordFile or credential",
  });
export type RegistryCredentials = z.infer<typeof RegistryCredentials>;

/**
 * Where events go (agent/notify/). The URL may carry a token (ntfy, Discord and Slack webhooks
 * do), so messages name a target only by its scheme and host.
 */
export const NotifyTarget = z
  .object({
    url: httpUrl(""),
    format: z.enum(["json", "ntfy", "discord", "slack"]).default("json"),
    events: z
      .array(z.enum(NOTIFY_EVENTS, { error: `expected one of ${NOTIFY_EVENTS.join(", ")}` }))
      .min(1, "must list at least one event (leave events out for all)")
      .default([...NOTIFY_EVENTS]),
    /** A file holding the key that signs each body (HMAC-SHA256); checked at start like passwordFile. */
    secretFile: AbsolutePath.optional(),
  })
  .strict();
export type NotifyTarget = z.infer<typeof NotifyTarget>;

export const DEFAULT_STATE_PATH = "/var/lib/deploy-agent/state.json";

/**
 * A top-level section whose keys are all commented out is YAML null (`traefik:` alone on its line):
 * read as the section left out, the way a person who commented out its last key means it.
 */
const section = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === null ? undefined : v), schema);

export const Config = z
  .object({
    state: NonEmpty.default(DEFAULT_STATE_PATH),
    socket: NonEmpty.default("/run/deploy-agent/agent.sock"),
    docker: section(
      z
        .object({
          socket: NonEmpty.default("/var/run/docker.sock"),
          /** Deadline of every non-streaming Engine call; a frozen Engine fails the call instead of hanging it. */
          timeout: duration(B.dockerTimeout).default(30_000),
        })
        .strict()
        .default({ socket: "/var/run/docker.sock", timeout: 30_000 }),
    ),
    traefik: section(
      z
        .object({
          api: HttpUrl.optional(),
        })
        .strict()
        .default({}),
    ),
    /** Credentials per registry host, e.g. `ghcr.io`. */
    registries: section(z.record(z.string(), RegistryCredentials).default({})),
    /** Docker's config.json, read for `auths` when no registry entry matches. */
    dockerConfig: NonEmpty.optional(),
    /**
     * How polls are spread: at most `concurrency` registry checks at once, each tick delayed by up to
     * `jitter`; a registry answering 5xx or unreachable is left alone for 5 s doubling up to `maxBackoff`.
     */
    poll: section(
      z
        .object({
          concurrency: z.number().int().min(1).max(64).default(4),
          jitter: duration(B.jitter).default(10_000),
          maxBackoff: duration(B.maxBackoff).default(300_000),
        })
        .strict()
        .default({ concurrency: 4, jitter: 10_000, maxBackoff: 300_000 }),
    ),
    /** Where events (deployed, failed, rolled-back, …) are sent; none by default. */
    notify: section(z.array(NotifyTarget).default([])),
    /**
     * The opt-in HTTP listener (agent/http/): no TCP port is opened unless `listen` is set. Without
     * `hookSecretFile` it serves /healthz and /metrics only, and /hooks/ answers 404.
     */
    http: section(
      z
        .object({
          listen: z
            .string({ error: 'expected host:port such as "127.0.0.1:9181"' })
            .refine((s) => !("problem" in parseListen(s)), { error: (issue) => (parseListen(String(issue.input)) as { problem: string }).problem })
            .optional(),
          /** A file holding the key that signs hook bodies (HMAC-SHA256); checked at start like passwordFile. */
          hookSecretFile: AbsolutePath.optional(),
        })
        .strict()
        .refine((h) => h.hookSecretFile === undefined || h.listen !== undefined, {
          path: ["hookSecretFile"],
          message: "needs http.listen: hooks are served only by the HTTP listener; set listen, or leave hookSecretFile out",
        })
        .default({}),
    ),
    /** Deploys kept in the state file per app. */
    history: z.number().int().min(5).max(1000).default(50),
    apps: z
      .record(z.string().regex(APP_NAME_RE, "app names use lowercase letters, digits and - (they name containers and Traefik routers)"), AppConfig)
      .refine((apps) => Object.keys(apps).length > 0, "must define at least one app")
      .superRefine((apps, ctx) => {
        for (const c of slotNameCollisions(apps)) ctx.addIssue({ code: "custom", path: c.path, message: c.message });
      }),
  })
  .strict();
export type Config = z.infer<typeof Config>;
