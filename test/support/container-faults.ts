// Releases that fail on cue, and a host whose other containers keep starting and stopping.
// `faultyRelease` publishes a copy of a `good` fixture whose command serves as before, and on
// SIGUSR1 deletes its /www/health (Docker's health check then fails, the server goes on
// serving), on SIGHUP puts it back, on SIGUSR2 prints a line and exits by itself with status 3. A signal is one fast Engine call, where a
// `docker exec` takes seconds on a loaded host: the fault lands in the step the test chose.
import Dockerode from "dockerode";
import { publishVariant } from "./image-variant.js";
import { fixtureImage, TEST_RUN_LABEL, testRunId } from "./images.js";

/** The exit status of a faulty release told to exit. */
export const FAULTY_EXIT_STATUS = 3;

const FAULTY_CMD = [
  "/bin/sh",
  "-c",
  [
    'trap "rm -f /www/health" USR1',
    'trap "echo ok > /www/health" HUP',
    `trap "echo faulty release: told to exit, exiting with status ${FAULTY_EXIT_STATUS} >&2; exit ${FAULTY_EXIT_STATUS}" USR2`,
    "httpd -f -p 8000 -h /www & pid=$!",
    'trap "kill $pid; exit 0" TERM',
    // `wait` returns early on each trapped signal; the loop waits again while httpd runs.
    'while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done',
  ].join("; "),
];

/** Pushes a faulty copy of `<repo>:<fromTag>` (a `good` fixture) under `tags`; returns its digest. */
export function faultyRelease(repo: string, fromTag: string, tags: string[], variant: string): Promise<string> {
  return publishVariant({ repo, fromTag, tags, variant, cmd: FAULTY_CMD });
}

/** A faulty release's health check fails from now on; it goes on serving `/`. */
export async function failHealth(docker: Dockerode, name: string): Promise<void> {
  await docker.getContainer(name).kill({ signal: "SIGUSR1" });
}

/** A faulty release's health check passes again. */
export async function healHealth(docker: Dockerode, name: string): Promise<void> {
  await docker.getContainer(name).kill({ signal: "SIGHUP" });
}

/** A faulty release exits by itself with FAULTY_EXIT_STATUS. */
export async function exitRelease(docker: Dockerode, name: string): Promise<void> {
  await docker.getContainer(name).kill({ signal: "SIGUSR2" });
}

/**
 * A faulty release exits by itself with FAULTY_EXIT_STATUS, told from inside (an exec signals its
 * init, which passes the signal on): `docker kill` marks a container stopped by hand, and the
 * Engine's restart policy then leaves it stopped. Slower than `exitRelease` on a loaded host.
 */
export async function crashRelease(docker: Dockerode, name: string): Promise<void> {
  const exec = await docker.getContainer(name).exec({ Cmd: ["kill", "-USR2", "1"], AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({});
  stream.resume();
  await new Promise<void>((resolve) => {
    stream.on("end", resolve);
    stream.on("close", resolve);
  });
}

/** When the Engine reports the next `action` (e.g. "die") of container `name`, in ms since the epoch. */
export async function nextEvent(docker: Dockerode, name: string, action: string, signal: AbortSignal): Promise<number> {
  const opts = { filters: { type: ["container"], container: [name], event: [action] }, abortSignal: signal };
  const stream = (await docker.getEvents(opts as Dockerode.GetEventsOptions)) as NodeJS.ReadableStream & { destroy(): void };
  try {
    for await (const chunk of stream) {
      const e = JSON.parse(String(chunk).split("\n")[0]!) as { timeNano?: number };
      return e.timeNano ? Math.floor(e.timeNano / 1e6) : Date.now();
    }
    throw new Error(`the Engine's event stream ended before ${name} reported ${action}`);
  } finally {
    stream.destroy();
  }
}

export interface EventNoise {
  stop(): Promise<void>;
}

/**
 * A busy host: a container of no app restarted every `everyMs`, so the Engine sends `die` and
 * `start` events all the time and Traefik's docker provider (and the routing model) applies a new
 * configuration at most once per throttle window, never at once (docs/design.md#events-and-throttle).
 */
export async function eventNoise(name: string, everyMs = 700, docker = new Dockerode()): Promise<EventNoise> {
  const image = await fixtureImage(docker, "good", "noise");
  const c = await docker.createContainer({
    name,
    Image: image,
    Labels: { [TEST_RUN_LABEL]: testRunId(), "traefik.enable": "false" },
    HostConfig: { Init: true, NetworkMode: "none" },
  });
  await c.start();
  let running = true;
  const loop = (async () => {
    while (running) {
      await c.restart({ t: 0 }).catch(() => undefined);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await c.remove({ force: true }).catch(() => undefined);
    },
  };
}
