// Removes what one test run left on the Engine: containers labelled with the run id, networks and
// local images whose names contain it. Ryuk is off here (its image cannot be pulled), so tests
// call this from afterAll or hold a `testRunScope()` with `await using`.
import Dockerode from "dockerode";
import { TEST_RUN_LABEL, removeImageRef, statusCode, testRunId } from "./images.js";

export interface CleanupReport {
  containers: string[];
  networks: string[];
  images: string[];
}

/**
 * Removes, in this order: every container labelled `deploy-agent.test-run=<runId>` (forced, with
 * anonymous volumes), every network whose name contains the run id, and every local image
 * reference containing it (the run's registry repos and fixture tags). Errors other than "already
 * gone" are collected and thrown together after everything was tried.
 */
export async function cleanupTestRun(
  opts: { runId?: string; docker?: Dockerode } = {},
): Promise<CleanupReport> {
  const runId = opts.runId ?? testRunId();
  const docker = opts.docker ?? new Dockerode();
  const report: CleanupReport = { containers: [], networks: [], images: [] };
  const failures: string[] = [];

  const containers = await docker.listContainers({ all: true, filters: { label: [`${TEST_RUN_LABEL}=${runId}`] } });
  for (const c of containers) {
    const name = c.Names[0]?.replace(/^\//, "") ?? c.Id;
    await ignoreGone(docker.getContainer(c.Id).remove({ force: true, v: true }), `container ${name}`, failures);
    report.containers.push(name);
  }

  const networks = await docker.listNetworks();
  for (const n of networks.filter((net) => net.Name.includes(runId))) {
    await ignoreGone(docker.getNetwork(n.Id).remove(), `network ${n.Name}`, failures);
    report.networks.push(n.Name);
  }

  const images = await docker.listImages({ all: false });
  for (const info of images) {
    const refs = [...(info.RepoTags ?? []), ...(info.RepoDigests ?? [])].filter((ref) => ref.includes(runId));
    for (const ref of refs) {
      await removeImageRef(docker, ref).catch((err: unknown) => failures.push(`image ${ref}: ${message(err)}`));
      report.images.push(ref);
    }
  }

  if (failures.length > 0) {
    throw new Error(`cleanup of test run ${runId} left ${failures.length} resource(s):\n${failures.join("\n")}`);
  }
  return report;
}

/**
 * The run's resources as an async-disposable scope:
 * `await using run = testRunScope();` … `run.labels` on every container the test creates.
 */
export function testRunScope(
  opts: { runId?: string; docker?: Dockerode } = {},
): AsyncDisposable & { runId: string; labels: Record<string, string> } {
  const runId = opts.runId ?? testRunId();
  return {
    runId,
    labels: { [TEST_RUN_LABEL]: runId },
    async [Symbol.asyncDispose]() {
      await cleanupTestRun({ ...opts, runId });
    },
  };
}

/** Removes one container when disposed: `await using c = disposableContainer(container)`. */
export function disposableContainer(container: Dockerode.Container): AsyncDisposable & { container: Dockerode.Container } {
  return {
    container,
    async [Symbol.asyncDispose]() {
      const failures: string[] = [];
      await ignoreGone(container.remove({ force: true, v: true }), `container ${container.id}`, failures);
      if (failures.length > 0) throw new Error(failures.join("\n"));
    },
  };
}

// 404: already removed; 409 "removal already in progress" from a concurrent cleanup.
async function ignoreGone(work: Promise<unknown>, what: string, failures: string[]): Promise<void> {
  try {
    await work;
  } catch (err) {
    const code = statusCode(err);
    if (code === 404 || (code === 409 && /already in progress/i.test(message(err)))) return;
    failures.push(`${what}: ${message(err)}`);
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
