// Whether a container is this agent's: the only containers it may stop, remove or change. Pure.
import { AGENT_LABELS, isOneOffRole, PROBE_ROLE } from "../labels.js";
import type { Owner } from "./types.js";

/**
 * True when the labels say: managed by deploy-agent, for `app`, by this agent. A container without
 * an owner label (made by a version before it existed) is this agent's only if its deploy is in
 * this agent's state file; probes had no managed label then, so an unlabelled probe is never adopted.
 */
export function isOwn(labels: Record<string, string> | null | undefined, app: string, owner: Owner): boolean {
  const l = labels ?? {};
  if (l[AGENT_LABELS.managed] !== "true" || l[AGENT_LABELS.app] !== app) return false;
  const by = l[AGENT_LABELS.owner];
  if (by !== undefined) return by === owner.agentId;
  if (isProbe(l)) return false;
  const deployId = l[AGENT_LABELS.deployId];
  const digest = l[AGENT_LABELS.digest];
  return deployId !== undefined && digest !== undefined && owner.recordedDeploy(app, deployId, digest);
}

export function isProbe(labels: Record<string, string> | null | undefined): boolean {
  return labels?.[AGENT_LABELS.role] === PROBE_ROLE;
}

/** A release step's one-off container (predeploy, postdeploy): never a slot holder, removed when found left over. */
export function isOneOff(labels: Record<string, string> | null | undefined): boolean {
  return isOneOffRole(labels?.[AGENT_LABELS.role]);
}

/** Why a container is not this agent's, for the CONTAINER_CONFLICT message and `status`. */
export function foreignReason(labels: Record<string, string> | null | undefined, app: string): string {
  const l = labels ?? {};
  if (l[AGENT_LABELS.managed] !== "true") return "not created by deploy-agent";
  if (l[AGENT_LABELS.app] !== app) return `created by deploy-agent for another app (${l[AGENT_LABELS.app] ?? "none"})`;
  if (l[AGENT_LABELS.owner] !== undefined) return "created by another deploy-agent (another state file)";
  return "created by deploy-agent for a deploy this agent's state file does not record";
}

/** The labels every container the agent creates for `app` carries, whatever else it has. */
export function ownerLabels(app: string, owner: Owner): Record<string, string> {
  return { [AGENT_LABELS.managed]: "true", [AGENT_LABELS.app]: app, [AGENT_LABELS.owner]: owner.agentId };
}

/**
 * True when a service (or a network the agent made for services) is this agent's: managed by
 * deploy-agent and carrying this agent's owner label. Services came after the owner label, so
 * there is no unlabelled one of the agent's to adopt.
 */
export function isOwnService(labels: Record<string, string> | null | undefined, owner: Owner): boolean {
  const l = labels ?? {};
  return l[AGENT_LABELS.managed] === "true" && l[AGENT_LABELS.owner] === owner.agentId;
}

/** Why a service is not this agent's, for the SERVICE_CONFLICT message. */
export function foreignServiceReason(labels: Record<string, string> | null | undefined): string {
  const l = labels ?? {};
  if (l[AGENT_LABELS.managed] !== "true") return "not created by deploy-agent";
  if (l[AGENT_LABELS.owner] === undefined) return "created by deploy-agent without an owner label";
  return "created by another deploy-agent (another state file)";
}
