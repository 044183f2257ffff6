// Optional confirmation of a switch through Traefik's API (https://doc.traefik.io/traefik/operations/api/): green's server URL must be
// listed in its service, and its router enabled, before blue is drained.
import http from "node:http";
import { AgentError } from "../errors.js";
import { sleep } from "../sleep.js";

export interface WaitForServerOptions {
  deadlineMs: number;
  /** Called between polls; throws to abort (green failed meanwhile). */
  check?: () => Promise<void>;
  signal?: AbortSignal;
  pollMs?: number;
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

export function traefikApi(base: string): TraefikConfirm {
  const root = base.replace(/\/+$/, "");
  return {
    async waitForServer(name, serverUrl, opts) {
      const started = Date.now();
      let last = "no answer yet";
      for (;;) {
        await opts.check?.();
        try {
          const [svc, router] = await Promise.all([
            getJson<ServiceInfo>(`${root}/api/http/services/${name}@docker`),
            getJson<RouterInfo>(`${root}/api/http/routers/${name}@docker`),
          ]);
          const servers = (svc.body?.loadBalancer?.servers ?? []).map((s) => s.url);
          if (router.body?.status === "enabled" && servers.includes(serverUrl)) return;
          last = `router ${name}@docker: ${router.status === 404 ? "absent" : router.body?.status ?? router.status}; servers: ${servers.join(", ") || "none"}`;
        } catch (err) {
          last = (err as Error).message;
        }
        if (Date.now() - started >= opts.deadlineMs) {
          throw new AgentError("GREEN_UNHEALTHY", `Traefik at ${root} did not route to ${serverUrl} within ${Math.round(opts.deadlineMs / 1000)}s (${last})`, {
            hint: "check the route's network and rule, and that Traefik's docker provider sees the container",
          });
        }
        if (opts.signal?.aborted) throw new AgentError("DEPLOY_ABORTED", "deploy aborted while confirming the switch");
        await sleep(opts.pollMs ?? 250, opts.signal);
      }
    },
  };
}

function getJson<T>(url: string, timeoutMs = 2000): Promise<{ status: number; body?: T }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const status = res.statusCode ?? 0;
        if (status !== 200) return resolve({ status });
        try {
          resolve({ status, body: JSON.parse(Buffer.concat(chunks).toString("utf8")) as T });
        } catch (err) {
          reject(new Error(`Traefik API ${url} sent invalid JSON: ${(err as Error).message}`));
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`Traefik API ${url} did not answer within ${timeoutMs}ms`)));
    req.on("error", reject);
  });
}
