// The agent's own container labels, under one prefix. With them the agent rebuilds its view of
// the host from Docker alone (reconcile), whatever the state file says.

export const LABEL_PREFIX = "deploy-agent.";

export const AGENT_LABELS = {
  managed: "deploy-agent.managed",
  app: "deploy-agent.app",
  slot: "deploy-agent.slot",
  generation: "deploy-agent.generation",
  version: "deploy-agent.version",
  digest: "deploy-agent.digest",
  deployId: "deploy-agent.deploy-id",
  /** Marks short-lived containers the agent creates only to look inside an image. */
  role: "deploy-agent.role",
} as const;

export const RESERVED_LABEL_KEYS: readonly string[] = Object.values(AGENT_LABELS);
