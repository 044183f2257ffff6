// The Engine as deploy/ sees it: operations on one app's containers and images, each of which
// refuses to touch what this agent did not create. The raw client never leaves docker/.
import { AgentError } from "../errors.js";
import { AGENT_LABELS, appRoleOf, isWebContainer, isControlLabel, isKeepTag, keepRepo, keepTag, refusedImageLabels, slotName } from "../labels.js";
import { cleanText } from "../text.js";
import type { EngineClient } from "./client.js";
import { CONTAINER_ACTIONS, HEALTH_CHECK_ACTIONS, watchOwnContainers, type OwnContainerEvent } from "./container-events.js";
import * as ct from "./containers.js";
import { checkRunning, chooseHealthcheck, noteSeenRunning, waitHealthy, watchEvents, type HealthSource, type HealthSpec, type WaitHealthyOptions } from "./health.js";
import { inspectImage, removeImageRef, tagImage } from "./images.js";
import { ping, watchEngine } from "./liveness.js";
import { streamLogs, type LogLine, type LogOptions } from "./logs.js";
import { runCreated, type OneOffOptions, type OneOffResult } from "./one-off.js";
import { foreignReason, isOneOff, isOwn, isProbe, ownerLabels } from "./ownership.js";
import { pullImage, type PullOptions } from "./pull.js";
import { traefikPeers, type TraefikPeers } from "./traefik-peers.js";
import type { AppContainers, Conflict, ContainerDetail, ContainerSpec, ContainerSummary, HealthConfig, ImageView, Owner } from "./types.js";

/** Bound on the list of refused labels quoted in IMAGE_REFUSED. */
const REFUSED_LABELS_MAX_BYTES = 1024;
const REFUSED_LABELS_SHOWN = 10;

export class OwnedEngine {
  readonly #c: EngineClient;
  readonly #owner: Owner;
  /**
   * Containers the agent stopped (`stop`, `stopAndRemove`), so that their `die` is known as its own
   * doing: until started again, or, once removed, for a minute (the Engine's event may come late).
   */
  readonly #stoppedOnPurpose = new Map<string, number>();

  constructor(client: EngineClient, owner: Owner) {
    this.#c = client;
    this.#owner = owner;
  }

  get socketPath(): string {
    return this.#c.socketPath;
  }

  /** Resolves when the Engine answers within the deadline (docker.timeout unless given); ENGINE_UNAVAILABLE otherwise. */
  ping(timeoutMs?: number): Promise<void> {
    return ping(this.#c, timeoutMs);
  }

  /** Calls `onEnd` once when the Engine goes away (its event stream ends); ENGINE_UNAVAILABLE if it is not there now. */
  watchEngine(onEnd: (why: string) => void): Promise<{ close(): void }> {
    return watchEngine(this.#c, onEnd);
  }

  inspectImage(ref: string): Promise<ImageView | undefined> {
    return inspectImage(this.#c, ref);
  }

  pullImage(ref: string, opts: PullOptions = {}): Promise<ImageView> {
    return pullImage(this.#c, ref, opts);
  }

  /** The health check green gets; refuses the image first (a probe container is made from it). */
  async chooseHealthcheck(app: string, image: ImageView, spec: HealthSpec): Promise<{ healthcheck: HealthConfig; source: HealthSource; test: string[] }> {
    refuseControlLabels(image);
    return chooseHealthcheck(this.#c, this.#owner, image, app, spec);
  }

  /** The running containers on `network` that look like Traefik (only read, so no ownership check). */
  traefikOnNetwork(network: string, timeoutMs?: number): Promise<TraefikPeers> {
    return traefikPeers(this.#c, network, timeoutMs);
  }

  ensureNetwork(name: string): Promise<void> {
    return ct.ensureNetwork(this.#c, name);
  }

  /** Every container of `app` this agent made (probes apart), with full detail; foreign slot holders as conflicts. */
  async containers(app: string): Promise<AppContainers> {
    const { own, conflicts } = await this.summary(app);
    const details: ContainerDetail[] = [];
    for (const s of own) {
      const d = await ct.inspectContainer(this.#c, s.id);
      if (d && isOwn(d.labels, app, this.#owner)) details.push(d);
    }
    return {
      own: details.filter((d) => isWebContainer(d.labels)),
      probes: details.filter((d) => isProbe(d.labels)),
      oneOffs: details.filter((d) => isOneOff(d.labels)),
      roles: details.filter((d) => appRoleOf(d.labels) !== undefined),
      conflicts,
    };
  }

  /**
   * The app's containers as the Engine's list shows them, in two list calls: by the app's label
   * (this agent's, and any other agent's of the same name) and by the slot names.
   */
  async summary(app: string, timeoutMs?: number): Promise<{ own: ContainerSummary[]; conflicts: Conflict[] }> {
    const names = [slotName(app, "blue"), slotName(app, "green")];
    const [byLabel, byName] = await Promise.all([
      ct.listContainers(this.#c, { label: [`${AGENT_LABELS.app}=${app}`] }, timeoutMs),
      // The Engine's name filter is a regular expression over "/name".
      ct.listContainers(this.#c, { name: names.map((n) => `^/${escapeRegExp(n)}$`) }, timeoutMs),
    ]);
    const seen = new Map<string, ContainerSummary>();
    for (const s of [...byLabel, ...byName]) seen.set(s.id, s);
    const own: ContainerSummary[] = [];
    const conflicts: Conflict[] = [];
    for (const s of seen.values()) {
      if (isOwn(s.labels, app, this.#owner)) own.push(s);
      else if (names.includes(s.name)) conflicts.push({ id: s.id, name: s.name, state: s.state, reason: foreignReason(s.labels, app) });
    }
    return { own, conflicts };
  }

  /** The container of that name when this agent made it for `app`; undefined when absent or not ours. */
  async ownNamed(app: string, name: string): Promise<ContainerDetail | undefined> {
    const d = await ct.inspectContainer(this.#c, name);
    return d && isOwn(d.labels, app, this.#owner) ? d : undefined;
  }

  /**
   * Creates green under `spec.name`. A container of ours left under that name (a failed deploy that
   * could not be cleaned up; the live one holds the other slot) is removed first; anyone else's is
   * left alone and the deploy fails with CONTAINER_CONFLICT. Then green's labels are checked: the
   * Engine merges the image's labels in, and the routing and agent keys must be exactly ours.
   */
  async createGreen(app: string, spec: ContainerSpec, extraNetworks: string[] = []): Promise<string> {
    const image = await inspectImage(this.#c, spec.Image);
    if (!image) throw new AgentError("PULL_FAILED", `image ${spec.Image} is not on the host any more; the new release's container was not created`);
    refuseControlLabels(image);
    const holder = await ct.inspectContainer(this.#c, spec.name);
    if (holder) {
      if (!isOwn(holder.labels, app, this.#owner)) throw conflictError(app, spec.name, holder);
      await ct.removeContainer(this.#c, holder.id);
    }
    const labels = { ...spec.Labels, ...ownerLabels(app, this.#owner) };
    const id = await ct.createContainer(this.#c, { ...spec, Labels: labels });
    const made = await ct.inspectContainer(this.#c, id);
    const stray = Object.keys(made?.labels ?? {}).filter((k) => isControlLabel(k) && made?.labels[k] !== labels[k]);
    if (stray.length > 0) {
      await ct.removeContainer(this.#c, id);
      throw imageRefused(spec.Image, stray);
    }
    for (const net of extraNetworks) await ct.connectNetwork(this.#c, net, id);
    return id;
  }

  /**
   * Runs a release step's one-off container (`spec.name` is `<app>-predeploy` or `<app>-postdeploy`):
   * created as green is (a leftover of ours under that name goes first, anyone else's is a
   * CONTAINER_CONFLICT, the image's labels are checked), run to its end or its timeout, and removed.
   */
  async runOneOff(app: string, spec: ContainerSpec, extraNetworks: string[], opts: OneOffOptions): Promise<OneOffResult> {
    const id = await this.createGreen(app, spec, extraNetworks);
    return runCreated(this.#c, id, opts);
  }

  async start(app: string, id: string): Promise<ContainerDetail> {
    const was = await this.#mustOwn(app, id, "start");
    this.#stoppedOnPurpose.delete(was?.id ?? id);
    await ct.startContainer(this.#c, id);
    const d = await ct.inspectContainer(this.#c, id);
    if (!d) throw new AgentError("GREEN_EXITED", `container ${id.slice(0, 12)} of ${app} vanished right after it was started`);
    // Seen running: if dockerd stops it before the health wait's first look, that is dockerd's doing.
    if (d.running) noteSeenRunning(this.#c, id);
    return d;
  }

  inspect(id: string): Promise<ContainerDetail | undefined> {
    return ct.inspectContainer(this.#c, id);
  }

  checkRunning(id: string, label: string, imageRef?: string): Promise<string> {
    return checkRunning(this.#c, id, label, imageRef);
  }

  waitHealthy(id: string, opts: WaitHealthyOptions): Promise<void> {
    return waitHealthy(this.#c, id, opts);
  }

  /** Events (die, start, health) of every container this agent made; `onEnd` when the Engine ends the stream. */
  /** With `healthChecks`, each health check's end comes too (`exec_die` with its exit code). */
  watchOwnContainers(onEvent: (e: OwnContainerEvent) => void, onEnd: (why: string) => void, opts: { healthChecks?: boolean } = {}): Promise<{ close(): void }> {
    return watchOwnContainers(this.#c, this.#owner, onEvent, onEnd, opts.healthChecks ? HEALTH_CHECK_ACTIONS : CONTAINER_ACTIONS);
  }

  /** The container's last `lines` lines of output, cleaned and bounded; "" when they cannot be read. */
  logTail(id: string, lines: number): Promise<string> {
    return ct.tailLogs(this.#c, id, lines);
  }

  /** Streams the output of one of the app's containers (`agentctl logs`), cleaned, until it ends or `signal` aborts. */
  async logs(app: string, id: string, opts: LogOptions, onLine: (l: LogLine) => void, signal?: AbortSignal): Promise<void> {
    await this.#mustOwn(app, id, "read the logs of");
    await streamLogs(this.#c, id, opts, onLine, signal);
  }

  /** Calls `onEvent` at each of the container's health_status and die events until closed; never throws. */
  containerEvents(id: string, onEvent: () => void): Promise<{ close(): void }> {
    return watchEvents(this.#c, id, onEvent);
  }

  async setRestartPolicy(app: string, id: string, policy: string): Promise<void> {
    await this.#mustOwn(app, id, "change the restart policy of");
    await ct.updateRestartPolicy(this.#c, id, policy);
  }

  /** Stops (SIGTERM, then SIGKILL after `stopTimeoutMs`) and removes one of this agent's containers; gone is done. */
  async stopAndRemove(app: string, id: string, stopTimeoutMs: number): Promise<void> {
    const d = await this.#mustOwn(app, id, "stop");
    if (!d) return;
    if (d.running) await this.#stopOnPurpose(d.id, stopTimeoutMs);
    await ct.removeContainer(this.#c, id);
    this.#removed(d.id);
  }

  /** Stops one of this agent's containers (SIGTERM, then SIGKILL after `stopTimeoutMs`) and keeps it: the watch after a switch may start it again. */
  async stop(app: string, id: string, stopTimeoutMs: number): Promise<void> {
    const d = await this.#mustOwn(app, id, "stop");
    if (d?.running) await this.#stopOnPurpose(d.id, stopTimeoutMs);
  }

  async #stopOnPurpose(id: string, stopTimeoutMs: number): Promise<void> {
    // Before the call: the Engine's die event can come before its answer.
    this.#stoppedOnPurpose.set(id, Infinity);
    try {
      await ct.stopContainer(this.#c, id, stopTimeoutMs);
    } catch (err) {
      // Not stopped (or not known to be): an exit from now on is not the agent's doing.
      this.#stoppedOnPurpose.delete(id);
      throw err;
    }
  }

  /**
   * True while the container is stopped because the agent stopped it (an `overlap: false` role's
   * old container during a deploy, say), so the live watch does not take its exit for a crash.
   */
  stoppedOnPurpose(id: string): boolean {
    const now = Date.now();
    for (const [k, until] of this.#stoppedOnPurpose) if (until < now) this.#stoppedOnPurpose.delete(k);
    return this.#stoppedOnPurpose.has(id);
  }

  #removed(id: string): void {
    if (this.#stoppedOnPurpose.has(id)) this.#stoppedOnPurpose.set(id, Date.now() + 60_000);
  }

  /** Removes one of this agent's containers at once (green after a failure, a probe); gone is done. */
  async remove(app: string, id: string): Promise<void> {
    const d = await this.#mustOwn(app, id, "remove");
    if (!d) return;
    await ct.removeContainer(this.#c, id);
    this.#removed(d.id);
  }

  /** Tags the release's image with the app's keep-tag for `generation`; returns the tag. */
  async keepImage(app: string, imageId: string, generation: number, tag = keepTag(app, generation)): Promise<string> {
    if (!isKeepTag(app, tag)) throw new AgentError("INTERNAL", `refusing to tag ${imageId} as ${tag}: not a keep-tag of ${app}`);
    await tagImage(this.#c, imageId, keepRepo(app), tag.slice(keepRepo(app).length + 1));
    return tag;
  }

  /**
   * Removes one of the app's keep-tags, and with it the image if nothing else references it. Any
   * other reference is refused: the agent never removes an image it did not tag.
   */
  async dropKeepTag(app: string, tag: string): Promise<boolean> {
    if (!isKeepTag(app, tag)) return false;
    return removeImageRef(this.#c, tag);
  }

  /**
   * Removes the by-digest reference (`repo@sha256:…`) that the agent's own pull of a release made.
   * Dropping a keep-tag leaves that reference behind (the Engine clears digest references only of
   * the untagged repository), so without this every old release would stay on disk until a prune.
   * Another reference on the image (someone's tag) keeps the image; a container using it keeps it too.
   */
  async dropPullRef(image: string, digest: string): Promise<boolean> {
    return removeImageRef(this.#c, `${image}@${digest}`);
  }

  /** The container's detail when it is this agent's for `app`; undefined when gone; CONTAINER_CONFLICT otherwise. */
  async #mustOwn(app: string, id: string, verb: string): Promise<ContainerDetail | undefined> {
    const d = await ct.inspectContainer(this.#c, id);
    if (d && !isOwn(d.labels, app, this.#owner)) {
      throw new AgentError("CONTAINER_CONFLICT", `refusing to ${verb} container ${d.name} (${d.id.slice(0, 12)}): it is ${foreignReason(d.labels, app)}`);
    }
    return d;
  }
}

/** IMAGE_REFUSED when the image carries routing or agent labels; the previous release keeps serving. */
export function refuseControlLabels(image: ImageView): void {
  const refused = refusedImageLabels(image.labels);
  if (refused.length > 0) throw imageRefused(image.repoDigests[0] ?? image.id, refused);
}

function imageRefused(ref: string, keys: string[]): AgentError {
  const shown = keys.slice(0, REFUSED_LABELS_SHOWN).map((k) => cleanText(k, 120)).join(", ");
  const more = keys.length > REFUSED_LABELS_SHOWN ? ` and ${keys.length - REFUSED_LABELS_SHOWN} more` : "";
  return new AgentError(
    "IMAGE_REFUSED",
    cleanText(`image ${ref} carries labels only agent.yaml may set: ${shown}${more}; it was not deployed and the previous release keeps serving`, REFUSED_LABELS_MAX_BYTES),
    { hint: "remove these LABEL lines from the image's Dockerfile (routing belongs in the app's route and labels in agent.yaml), then push it again" },
  );
}

function conflictError(app: string, name: string, holder: ContainerDetail): AgentError {
  return new AgentError(
    "CONTAINER_CONFLICT",
    `container ${name} (${holder.id.slice(0, 12)}, ${holder.state}) holds the name the agent needs for ${app}, but it is ${foreignReason(holder.labels, app)}; the agent leaves it alone and did not deploy`,
    { hint: `rename or remove that container (docker rename ${name} ${name}-old), or give the app another name in agent.yaml` },
  );
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
