// Optional confirmation of a switch through Traefik's API (https://doc.traefik.io/traefik/operations/api/): green's server URL must be
// listed in its service, and its router enabled, before blue is drained.
import http from "node:http";
import https from "node:https";
import { abortReason } from "../abort.js";
import { deadline, monotonicNow, type MonotonicClock } from "../clock.js";
import { AgentError } from "../errors.js";
import { sleep } from "../sleep.js";

export interface WaitForServerOptions {
  deadlineMs: number;
  /** Called between polls; throws to abort (green failed meanwhile). */
  check?: () => Promise<void>;
  signal?: AbortSignal;
  pollMs?: number;
  /** The clock the deadline runs on; the monotonic one unless a test injects its own. */
  now?: MonotonicClock;
}

export interface TraefikConfirm {
  waitForServer(routerAndService: string, serverUrl: string, opts: WaitForServerOptions): Promise<void>;
}

interface ServiceInfo {
  loadBalancer?: { servers?: { url?: string }[] };
}
interface RouterInfo {
  status?: string;
}

export interface TraefikApiOptions {
  /** Certificates to trust for an https API besides the system's (Node's `ca`); for a private CA. */
  ca?: string | Buffer;
}

/** An answer of Traefik's API larger than this is refused: a router or service is a few hundred bytes. */
const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * `base` is http:// or https:// (the config refuses any other scheme), with or without
 * `user:password@` for an API behind basic auth; messages name it without the password.
 */
export function traefikApi(base: string, opts: TraefikApiOptions = {}): TraefikConfirm {
  const root = base.replace(/\/+$/, "");
  const shown = withoutPassword(root);
  const get = <T>(path: string) => getJson<T>(`${root}${path}`, `${shown}${path}`, opts.ca);
  return {
    async waitForServer(name, serverUrl, opts) {
      const until = deadline(opts.deadlineMs, opts.now ?? monotonicNow);
      let last = "no answer yet";
      for (;;) {
        await opts.check?.();
        try {
          const [svc, router] = await Promise.all([
            get<ServiceInfo>(`/api/http/services/${name}@docker`),
            get<RouterInfo>(`/api/http/routers/${name}@docker`),
          ]);
          const servers = (svc.body?.loadBalancer?.servers ?? []).map((s) => s.url);
          if (router.body?.status === "enabled" && servers.includes(serverUrl)) return;
          last = `router ${name}@docker: ${router.status === 404 ? "absent" : router.body?.status ?? router.status}; servers: ${servers.join(", ") || "none"}`;
        } catch (err) {
          last = (err as Error).message;
        }
        if (until.passed()) {
          throw new AgentError("GREEN_UNHEALTHY", `Traefik at ${shown} did not route to ${serverUrl} within ${Math.round(opts.deadlineMs / 1000)}s (${last})`, {
            hint: "check the route's network and rule, and that Traefik's docker provider sees the container",
          });
        }
        if (opts.signal?.aborted) throw new AgentError("DEPLOY_ABORTED", `deploy aborted while confirming the switch: ${abortReason(opts.signal)}`);
        await sleep(opts.pollMs ?? 250, opts.signal);
      }
    },
  };
}

function withoutPassword(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString().replace(/\/+$/, "");
  } catch {
    return url;
  }
}

/** GET of a JSON document; `shown` is the URL as messages may name it. Bodies are read up to MAX_ANSWER_BYTES. */
function getJson<T>(url: string, shown: string, ca: string | Buffer | undefined, timeoutMs = 2000): Promise<{ status: number; body?: T }> {
  return new Promise((resolve, reject) => {
    const onAnswer = (res: http.IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > MAX_ANSWER_BYTES) req.destroy(new Error(`Traefik API ${shown} sent more than ${MAX_ANSWER_BYTES} bytes`));
        else chunks.push(c);
      });
      res.on("end", () => {
        const status = res.statusCode ?? 0;
        if (status !== 200) return resolve({ status });
        try {
          resolve({ status, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as T });
        } catch (err) {
          reject(new Error(`Traefik API ${shown} sent invalid JSON: ${(err as Error).message}`));
        }
      });
    };
    const req = url.startsWith("https:")
      ? https.get(url, { timeout: timeoutMs, agent: false, ...(ca !== undefined ? { ca } : {}) }, onAnswer)
      : http.get(url, { timeout: timeoutMs, agent: false }, onAnswer);
    req.on("timeout", () => req.destroy(new Error(`Traefik API ${shown} did not answer within ${timeoutMs}ms`)));
    req.on("error", (err: NodeJS.ErrnoException) => reject(new Error(`Traefik API ${shown}: ${err.code ?? err.message}${err.code && err.message !== err.code ? ` (${err.message})` : ""}`)));
  });
}
