// Which containers of one of an app's roles run, followed from the Engine's start and die events
// (not sampled): for "no two containers of an `overlap: false` role ever run at once".
import type Dockerode from "dockerode";

export interface RoleRunning {
  /** The most containers of the role that ran at one time since `followRole` began. */
  maxAtOnce(): number;
  /** The events seen, in the Engine's order: `start web-worker-green`. */
  seen(): string[];
  stop(): void;
}

/** Follows the role's containers: subscribed first, then the ones already running are counted, so none is missed. */
export async function followRole(docker: Dockerode, app: string, role: string): Promise<RoleRunning> {
  const labels = [`deploy-agent.app=${app}`, `deploy-agent.role=${role}`];
  const controller = new AbortController();
  const stream = (await docker.getEvents({ filters: { type: ["container"], event: ["start", "die"], label: labels }, abortSignal: controller.signal } as object)) as NodeJS.ReadableStream;
  const running = new Set((await docker.listContainers({ filters: { label: labels } })).map((c) => c.Id));
  let max = running.size;
  const seen: string[] = [];
  let buf = "";
  stream.on("data", (chunk: Buffer) => {
    buf += chunk.toString("utf8");
    let nl: number;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      const e = JSON.parse(line) as { Action: string; id: string; Actor?: { Attributes?: Record<string, string> } };
      if (e.Action === "start") running.add(e.id);
      else if (e.Action === "die") running.delete(e.id);
      max = Math.max(max, running.size);
      seen.push(`${e.Action} ${e.Actor?.Attributes?.name ?? e.id.slice(0, 12)}`);
    }
  });
  stream.on("error", () => {});
  return {
    maxAtOnce: () => max,
    seen: () => [...seen],
    stop: () => controller.abort(),
  };
}
