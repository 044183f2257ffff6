// The agent's own container labels, under one prefix. With them the agent rebuilds its view of
// the host from Docker alone (reconcile), whatever the state file says; with `owner` it tells its
// own containers from everyone else's.

export const LABEL_PREFIX = "deploy-agent.";

export const AGENT_LABELS = {
  managed: "deploy-agent.managed",
  app: "deploy-agent.app",
  /** The id of the agent (its state file) that created the container: two agents on one Engine never touch each other's. */
  owner: "deploy-agent.owner",
  slot: "deploy-agent.slot",
  generation: "deploy-agent.generation",
  version: "deploy-agent.version",
  digest: "deploy-agent.digest",
  deployId: "deploy-agent.deploy-id",
  /**
   * What the container is for: "probe" (short-lived, only to look inside an image), "predeploy" or
   * "postdeploy" (a release step's one-off), or the name of one of the app's roles ("worker");
   * absent on the web containers.
   */
  role: "deploy-agent.role",
} as const;

export const RESERVED_LABEL_KEYS: readonly string[] = Object.values(AGENT_LABELS);

/** The container (and Traefik router and service) name of one of an app's slots: one name, so the two never drift. */
export function slotName(app: string, slot: "blue" | "green"): string {
  return `${app}-${slot}`;
}

/**
 * The Swarm service of a `backend: swarm` app's web (`web`) or of one of its roles (`web-worker`):
 * one name for the config's checks and the service spec (docs/design.md#swarm-services).
 */
export function serviceName(app: string, role?: string): string {
  return role === undefined ? app : `${app}-${role}`;
}

/** What a release's containers and services all carry: the agent's mark, the app, and which release it is. */
export function releaseLabels(app: string, release: { version: string; digest: string; deployId: string }): Record<string, string> {
  return {
    [AGENT_LABELS.managed]: "true",
    [AGENT_LABELS.app]: app,
    [AGENT_LABELS.version]: release.version,
    [AGENT_LABELS.digest]: release.digest,
    [AGENT_LABELS.deployId]: release.deployId,
  };
}

/** The value of `role` on the containers that only look inside an image. */
export const PROBE_ROLE = "probe";

/** The values of `role` on a release step's one-off container, named after the step and its config key. */
export const ONE_OFF_ROLES = ["predeploy", "postdeploy"] as const;
export type OneOffRole = (typeof ONE_OFF_ROLES)[number];

/** Whether a role label value names a release step's one-off container. */
export function isOneOffRole(role: string | undefined): role is OneOffRole {
  return (ONE_OFF_ROLES as readonly string[]).includes(role ?? "");
}

/** A web container: one with no role label (a slot holder; probes, one-offs and roles carry one). */
export function isWebContainer(labels: Record<string, string> | null | undefined): boolean {
  return labels?.[AGENT_LABELS.role] === undefined;
}

/** The app role a container is of (`worker`), from its labels; undefined for web (no role label), probes and one-offs. */
export function appRoleOf(labels: Record<string, string> | null | undefined): string | undefined {
  const role = labels?.[AGENT_LABELS.role];
  return role === undefined || role === PROBE_ROLE || isOneOffRole(role) ? undefined : role;
}

/**
 * Label prefixes an image may not carry: the Engine copies an image's LABELs onto its containers, so
 * `traefik.*` would route other domains to it and `deploy-agent.*` would disguise it as something the
 * agent made. Any case is refused: no legitimate image needs these keys, so no spelling of them is
 * worth the risk that some reader of labels matches it.
 */
const REFUSED_IMAGE_LABEL_PREFIXES = ["traefik.", LABEL_PREFIX];

/** Whether `key` is one only the agent (from agent.yaml) may set on a container. */
export function isControlLabel(key: string): boolean {
  const k = key.toLowerCase();
  return REFUSED_IMAGE_LABEL_PREFIXES.some((p) => k.startsWith(p));
}

/** The labels of an image that would steer routing or pose as the agent's, in key order. */
export function refusedImageLabels(labels: Record<string, string> | null | undefined): string[] {
  return Object.keys(labels ?? {})
    .filter(isControlLabel)
    .sort();
}

/** The local repository that holds an app's kept releases; nothing else lives there. */
export function keepRepo(app: string): string {
  return `deploy-agent/${app}`;
}

/** The tag that keeps a release's image on the host for rollback (an untagged image is pruned). */
export function keepTag(app: string, generation: number): string {
  return `${keepRepo(app)}:gen-${generation}`;
}

/** True only for a tag `keepTag` builds for this app: the only image references the agent ever removes. */
export function isKeepTag(app: string, ref: string): boolean {
  const prefix = `${keepRepo(app)}:gen-`;
  return ref.startsWith(prefix) && /^\d+$/.test(ref.slice(prefix.length));
}
