// On start, rebuild each app's truth from the Engine's labels and the state file, so that exactly
// one slot serves: a deploy found half done is finished (traffic had switched) or undone (it had not).
import type Docker from "dockerode";
import type { AppConfig } from "../config/schema.js";
import { inspectContainer, listAppContainers, removeContainer, stopContainer, tagImage } from "../docker/containers.js";
import { checkRunning } from "../docker/health.js";
import { toAgentError } from "../errors.js";
import { AGENT_LABELS } from "../labels.js";
import type { DeployRecord, Live, Slot, StepName } from "../state/schema.js";
import { ensureApp, finishDeploy, promoteLive } from "../state/transitions.js";
import type { DeployDeps } from "./deploy.js";

/** From these steps on, green had passed its health gate and Traefik had been given time to switch to it. */
const SWITCHED: readonly StepName[] = ["drain", "stop", "record"];

export interface ReconcileReport {
  app: string;
  actions: string[];
  serving?: string;
}

export async function reconcileApp(deps: DeployDeps, appName: string): Promise<ReconcileReport> {
  const app = deps.config.apps[appName];
  if (!app) return { app: appName, actions: [] };
  const { docker } = deps.engine;
  const log = deps.log.child({ app: appName, step: "reconcile" });
  const actions: string[] = [];
  const note = (msg: string) => {
    actions.push(msg);
    log.warn(msg);
  };

  let containers = await inspectAll(docker, appName);
  for (const c of containers.filter((c) => c.Config.Labels?.[AGENT_LABELS.role] === "probe")) {
    await removeContainer(docker, c.Id);
  }
  containers = containers.filter((c) => c.Config.Labels?.[AGENT_LABELS.role] !== "probe");

  const open = deps.store.app(appName).history.filter((r) => r.outcome === "running");
  for (const record of open) {
    const green = containers.find((c) => c.Config.Labels?.[AGENT_LABELS.deployId] === record.id);
    const lastStep = record.steps.at(-1)?.name ?? "resolve";
    const healthy = green ? await isServing(docker, green) : false;
    if (green && healthy && SWITCHED.includes(lastStep)) {
      await finishForward(deps, app, appName, record, green);
      note(`deploy ${record.id} was in step ${lastStep} when the agent stopped; traffic had switched, so it was finished`);
    } else {
      if (green) await removeContainer(docker, green.Id);
      await deps.store.update((s) =>
        finishDeploy(s, appName, record.id, {
          outcome: "aborted",
          endedAt: new Date().toISOString(),
          error: {
            code: "DEPLOY_ABORTED",
            message: `the agent stopped during step ${lastStep}; ${green ? "green was removed and " : ""}the previous release kept serving`,
          },
        }),
      );
      note(`deploy ${record.id} was in step ${lastStep} when the agent stopped; it was undone`);
    }
  }

  containers = (await inspectAll(docker, appName)).filter((c) => c.Config.Labels?.[AGENT_LABELS.role] !== "probe");
  const serving = await settleOneServing(deps, appName, containers, note);
  return { app: appName, actions, ...(serving ? { serving } : {}) };
}

/** Traffic was on green when the agent stopped: stop the others and make green the live release. */
async function finishForward(deps: DeployDeps, app: AppConfig, appName: string, record: DeployRecord, green: Docker.ContainerInspectInfo): Promise<void> {
  const { docker } = deps.engine;
  for (const c of await inspectAll(docker, appName)) {
    if (c.Id === green.Id) continue;
    await stopContainer(docker, c.Id, app.stopTimeout);
    await removeContainer(docker, c.Id);
  }
  await docker.getContainer(green.Id).update({ RestartPolicy: { Name: app.restart, MaximumRetryCount: 0 } });
  const live = liveFromLabels(green, record.id);
  const keepTag = `deploy-agent/${appName}:gen-${live.generation}`;
  await tagImage(docker, green.Image, `deploy-agent/${appName}`, `gen-${live.generation}`);
  await deps.store.update((s) => {
    promoteLive(s, appName, { deployId: record.id, version: live.version, digest: live.digest, imageId: green.Image, keepTag, deployedAt: live.since }, live, app.keep);
    finishDeploy(s, appName, record.id, { outcome: "succeeded", endedAt: new Date().toISOString() });
  });
}

/**
 * Leaves exactly one running container for the app: the live release's if it runs, else the newest
 * running one (adopted from its labels). Stopped leftovers are removed. If nothing runs, the live
 * record is cleared so the next poll deploys the tracked tag again.
 */
async function settleOneServing(
  deps: DeployDeps,
  appName: string,
  containers: Docker.ContainerInspectInfo[],
  note: (m: string) => void,
): Promise<string | undefined> {
  const { docker } = deps.engine;
  const app = deps.config.apps[appName];
  const live = deps.store.app(appName).live;
  const running = containers.filter((c) => c.State.Running).sort((a, b) => generationOf(b) - generationOf(a));
  let keep = live ? running.find((c) => c.Config.Labels?.[AGENT_LABELS.digest] === live.digest && slotOf(c) === live.slot) : undefined;

  if (!keep && live) {
    const stopped = containers.find((c) => !c.State.Running && c.Config.Labels?.[AGENT_LABELS.deployId] === live.deployId);
    if (stopped && running.length === 0) {
      try {
        await docker.getContainer(stopped.Id).start();
        keep = (await inspectContainer(docker, stopped.Id)) ?? stopped;
        note(`the live container ${nameOf(stopped)} was stopped; it was started again`);
      } catch (err) {
        note(`the live container ${nameOf(stopped)} was stopped and would not start: ${toAgentError(err).message}`);
      }
    }
  }
  if (!keep && running[0]) {
    keep = running[0];
    const adopted = liveFromLabels(keep, keep.Config.Labels?.[AGENT_LABELS.deployId] ?? "adopted");
    await deps.store.update((s) => {
      const a = ensureApp(s, appName);
      a.live = adopted;
      a.generation = Math.max(a.generation, adopted.generation);
    });
    note(`adopted ${nameOf(keep)} (${adopted.version}) as the live release from its labels`);
  }
  for (const c of containers) {
    if (c.Id === keep?.Id) continue;
    if (c.State.Running) await stopContainer(docker, c.Id, app?.stopTimeout ?? 10_000);
    await removeContainer(docker, c.Id);
    note(`removed ${nameOf(c)}, which was not the serving slot`);
  }
  if (!keep && live) {
    await deps.store.update((s) => {
      delete ensureApp(s, appName).live;
    });
    note(`no container of ${appName} runs; the next poll deploys the tracked tag again`);
  }
  const maxGen = Math.max(0, ...containers.map(generationOf));
  if (maxGen > deps.store.app(appName).generation) {
    await deps.store.update((s) => {
      ensureApp(s, appName).generation = maxGen;
    });
  }
  return keep ? nameOf(keep) : undefined;
}

async function inspectAll(docker: Docker, appName: string): Promise<Docker.ContainerInspectInfo[]> {
  const list = await listAppContainers(docker, appName);
  const out: Docker.ContainerInspectInfo[] = [];
  for (const c of list) {
    const info = await inspectContainer(docker, c.Id);
    if (info) out.push(info);
  }
  return out;
}

async function isServing(docker: Docker, c: Docker.ContainerInspectInfo): Promise<boolean> {
  try {
    const health = await checkRunning(docker, c.Id, nameOf(c));
    return health === "healthy" || health === "none";
  } catch {
    return false;
  }
}

function liveFromLabels(c: Docker.ContainerInspectInfo, deployId: string): Live {
  const l = c.Config.Labels ?? {};
  return {
    deployId,
    version: l[AGENT_LABELS.version] ?? "unknown",
    digest: l[AGENT_LABELS.digest] ?? "",
    imageId: c.Image,
    slot: slotOf(c),
    generation: generationOf(c),
    since: c.State.StartedAt || new Date().toISOString(),
  };
}

function slotOf(c: Docker.ContainerInspectInfo): Slot {
  return c.Config.Labels?.[AGENT_LABELS.slot] === "green" ? "green" : "blue";
}

function generationOf(c: Docker.ContainerInspectInfo): number {
  const g = Number(c.Config.Labels?.[AGENT_LABELS.generation]);
  return Number.isInteger(g) ? g : 0;
}

function nameOf(c: Docker.ContainerInspectInfo): string {
  return c.Name.replace(/^\//, "");
}
