// The Swarm as deploy/ sees it: an app's services and their overlay networks, each operation
// refusing what this agent did not create (SERVICE_CONFLICT). The raw client never leaves docker/.
import { deadline } from "../clock.js";
import type { EngineAuth } from "../engine-auth.js";
import { AgentError } from "../errors.js";
import { AGENT_LABELS } from "../labels.js";
import { sleep } from "../sleep.js";
import type { EngineClient } from "./client.js";
import { foreignServiceReason, isOwnService, ownerLabels } from "./ownership.js";
import { followUpdate, type FollowOptions, type FollowResult } from "./service-update.js";
import type { ServiceSpec } from "./service-spec.js";
import * as sv from "./services.js";
import { swarmNotManager, swarmRole, type SwarmInfo, type SwarmRole } from "./swarm.js";
import type { Owner } from "./types.js";

export type { FollowOptions, FollowResult, FollowState } from "./service-update.js";
export type { ServiceView, TaskView } from "./services.js";

/** How long a swarm network may take to be allocated (a driver shown) after it was made; milliseconds on a healthy manager. */
const NETWORK_ALLOCATION_MS = 10_000;
const NETWORK_POLL_MS = 100;

export class OwnedSwarm {
  readonly #c: EngineClient;
  readonly #owner: Owner;

  constructor(client: EngineClient, owner: Owner) {
    this.#c = client;
    this.#owner = owner;
  }

  /** This Engine's place in a swarm (GET /info); only a manager creates and updates services. */
  async swarmRole(): Promise<SwarmRole> {
    return swarmRole(await this.#info());
  }

  /** Why `apps` (those with backend: swarm) cannot run on this Engine, or undefined on a manager (swarm.ts swarmNotManager). */
  async notManager(apps: readonly string[]): Promise<{ message: string; hint: string } | undefined> {
    return apps.length === 0 ? undefined : swarmNotManager(apps, await this.#info());
  }

  async #info(): Promise<SwarmInfo> {
    // dockerode's typings of info() take no options; the client's deadline still bounds it.
    return (await this.#c.call("GET /info", () => this.#c.docker.info())) as SwarmInfo;
  }

  /**
   * An attachable overlay network of that name, created with the owner labels when missing. One
   * that exists already is used if it is an overlay, whoever made it (Traefik's network is often
   * made by hand); any other driver cannot reach tasks on other nodes, and is refused.
   */
  async ensureNetwork(name: string): Promise<void> {
    const found = await this.#allocatedNetwork(name);
    if (found) {
      if (found.driver !== "overlay") throw notOverlay(name, found.driver);
      return;
    }
    if (await sv.createOverlay(this.#c, name, { [AGENT_LABELS.managed]: "true", [AGENT_LABELS.owner]: this.#owner.agentId })) return;
    // Someone else's network of that name won a race with the create.
    const made = await this.#allocatedNetwork(name);
    if (made && made.driver !== "overlay") throw notOverlay(name, made.driver);
  }

  /**
   * The network of that name once Swarm has allocated it. Until then the Engine lists a swarm
   * network with an empty driver (moby daemon/cluster/convert/network.go reads it from the
   * allocator's DriverState), which is neither an overlay nor a reason to refuse it.
   */
  async #allocatedNetwork(name: string): Promise<{ driver: string } | undefined> {
    const until = deadline(NETWORK_ALLOCATION_MS);
    for (;;) {
      const n = await sv.findNetwork(this.#c, name);
      if (!n || n.driver !== "") return n;
      if (until.passed()) {
        throw new AgentError("ENGINE_UNAVAILABLE", `network ${name} still has no driver ${NETWORK_ALLOCATION_MS / 1000}s after it was made: Swarm has not allocated it`, {
          hint: "check `docker network inspect` and the Engine's log; the next deploy tries again",
        });
      }
      await sleep(NETWORK_POLL_MS);
    }
  }

  /** The agent's own service of that name (spec, version, UpdateStatus); undefined when absent; SERVICE_CONFLICT when not ours. */
  async inspectService(name: string): Promise<sv.ServiceView | undefined> {
    return this.#mustOwn(name, "read");
  }

  /**
   * Creates the service with the owner labels over the spec's. A service of that name that is not
   * the agent's is refused and left alone; one of its own is the Engine's name conflict (the
   * caller updates it instead). `registryAuth` goes to the nodes as `--with-registry-auth` does.
   */
  async createService(spec: ServiceSpec, registryAuth?: EngineAuth): Promise<void> {
    await this.#mustOwn(spec.Name, "create");
    await sv.writeService(this.#c, this.#labelled(spec), undefined, registryAuth);
  }

  /** Replaces the spec of the agent's service at `version` (the one it read); the Engine refuses a stale version. */
  async updateService(name: string, version: number, spec: ServiceSpec, registryAuth?: EngineAuth): Promise<void> {
    const s = await this.#mustOwn(name, "update");
    if (!s) throw new AgentError("INTERNAL", `service ${name} is gone: there is nothing to update; create it again`);
    await sv.writeService(this.#c, this.#labelled({ ...spec, Name: name }), { id: s.id, version }, registryAuth);
  }

  /** Follows the agent's service until Swarm settles it or the deadline passes (see service-update.ts). */
  async followUpdate(name: string, opts: FollowOptions): Promise<FollowResult> {
    const s = await this.#mustOwn(name, "follow");
    if (!s) throw new AgentError("INTERNAL", `service ${name} does not exist: there is no update to follow`);
    return followUpdate(this.#c, s.id, opts);
  }

  /** Sends the agent's service back to its previous spec, Swarm's one step (services.ts rollbackService); for undoing the agent's own update. */
  async rollbackService(name: string): Promise<void> {
    const s = await this.#mustOwn(name, "roll back");
    if (!s) throw new AgentError("INTERNAL", `service ${name} does not exist: there is nothing to roll back`);
    await sv.rollbackService(this.#c, s.id);
  }

  /** The tasks of the agent's service (none when it is absent), for `status`. */
  async tasks(name: string): Promise<sv.TaskView[]> {
    const s = await this.#mustOwn(name, "list the tasks of");
    return s ? sv.listTasks(this.#c, s.id) : [];
  }

  /**
   * The agent's service of that name and its tasks, each call bounded by `timeoutMs` (status's
   * own bound, shorter than docker.timeout); undefined when absent; SERVICE_CONFLICT when not ours.
   */
  async look(name: string, timeoutMs: number): Promise<{ service: sv.ServiceView; tasks: sv.TaskView[] } | undefined> {
    const until = deadline(timeoutMs);
    const service = await this.#mustOwn(name, "read", timeoutMs);
    if (!service) return undefined;
    // One bound for both calls, so a slow inspect does not double the wait.
    const leftMs = until.remainingMs();
    if (leftMs === 0) throw this.#c.notAnswering(`list of tasks of service ${name}`, timeoutMs);
    return { service, tasks: await sv.listTasks(this.#c, service.id, leftMs) };
  }

  /** The swarm's node hostnames by node id (GET /nodes), so `status` can say where a task runs. */
  nodeHostnames(timeoutMs: number): Promise<Map<string, string>> {
    return sv.nodeHostnames(this.#c, timeoutMs);
  }

  /** Removes the agent's service and so its tasks; gone is done. */
  async removeService(name: string): Promise<void> {
    const s = await this.#mustOwn(name, "remove");
    if (s) await sv.removeService(this.#c, s.id);
  }

  #labelled(spec: ServiceSpec): ServiceSpec {
    const app = spec.Labels[AGENT_LABELS.app];
    if (app === undefined) throw new AgentError("INTERNAL", `service spec ${spec.Name} has no ${AGENT_LABELS.app} label; build it with deploy/service-plan.ts`);
    return { ...spec, Labels: { ...spec.Labels, ...ownerLabels(app, this.#owner) } };
  }

  async #mustOwn(name: string, verb: string, timeoutMs?: number): Promise<sv.ServiceView | undefined> {
    const s = await sv.inspectService(this.#c, name, timeoutMs);
    if (s && !isOwnService(s.labels, this.#owner)) {
      throw new AgentError("SERVICE_CONFLICT", `refusing to ${verb} service ${s.name} (${s.id.slice(0, 12)}): it is ${foreignServiceReason(s.labels)}; the agent leaves it alone`, {
        hint: `remove or rename that service yourself (docker service rm ${s.name}), or give the app another name in agent.yaml`,
      });
    }
    return s;
  }
}

function notOverlay(name: string, driver: string): AgentError {
  return new AgentError("SERVICE_CONFLICT", `network ${name} exists with driver ${driver}, but a Swarm service needs an overlay network; the agent leaves it alone`, {
    hint: `name another network in agent.yaml, or replace it with an overlay network (docker network create --driver overlay --attachable ${name})`,
  });
}
