// One deploy per app at a time. A second request fails at once, naming the deploy that runs and its step.
import { AgentError } from "../errors.js";
import type { StepName, Trigger } from "../state/schema.js";

export interface RunningDeploy {
  deployId: string;
  version: string;
  trigger: Trigger;
  step: StepName;
  startedAt: string;
}

export class DeployLocks {
  readonly #running = new Map<string, RunningDeploy>();

  /** Takes the app's lock or throws DEPLOY_LOCKED; the returned function releases it. */
  acquire(app: string, info: RunningDeploy): () => void {
    const cur = this.#running.get(app);
    if (cur) {
      throw new AgentError(
        "DEPLOY_LOCKED",
        `deploy of ${app} already running (id ${cur.deployId}, ${cur.version}, step ${cur.step})`,
        { hint: "wait for it to finish, or watch it with: agentctl status" },
      );
    }
    const held = { ...info };
    this.#running.set(app, held);
    return () => {
      if (this.#running.get(app) === held) this.#running.delete(app);
    };
  }

  setStep(app: string, step: StepName, deployId?: string): void {
    const cur = this.#running.get(app);
    if (cur) {
      cur.step = step;
      if (deployId) cur.deployId = deployId;
    }
  }

  current(app: string): Readonly<RunningDeploy> | undefined {
    return this.#running.get(app);
  }

  get size(): number {
    return this.#running.size;
  }
}
