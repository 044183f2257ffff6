// RegistryClients for tests: an empty Docker config.json (so the machine's own `docker login` never
// leaks in), password files with mode 0600, and one place that closes every client and server.
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Config } from "../../agent/config/schema.js";
import { silentLogger } from "../../agent/log.js";
import { RegistryClient, type RegistryClientOptions } from "../../agent/registry/client.js";

export interface RegistryTestKit {
  /** A config with these registries entries, reading Docker's config.json from `dockerConfig` (default: an empty one). */
  config(registries?: Record<string, { username: string; passwordFile: string }>, dockerConfig?: string): Config;
  client(opts?: Partial<RegistryClientOptions>): RegistryClient;
  passwordFile(name: string, password: string): Promise<string>;
  /** Registers a stop function, run in reverse order by `cleanup`. */
  onCleanup(stop: () => Promise<void>): void;
  cleanup(): Promise<void>;
}

export async function registryTestKit(): Promise<RegistryTestKit> {
  const dir = await mkdtemp(join(tmpdir(), "deploy-agent-registry-kit-"));
  const dockerConfig = join(dir, "docker-config.json");
  await writeFile(dockerConfig, "{}");
  const clients: RegistryClient[] = [];
  const stops: (() => Promise<void>)[] = [];
  const config = (registries: Record<string, { username: string; passwordFile: string }> = {}, dockerConfigPath = dockerConfig): Config =>
    Config.parse({ registries, dockerConfig: dockerConfigPath, apps: { web: { image: "ghcr.io/acme/web", port: 8080, health: { path: "/health" } } } });
  return {
    config,
    client: (opts = {}) => {
      const c = new RegistryClient({ config: config(), log: silentLogger(), env: {}, ...opts });
      clients.push(c);
      return c;
    },
    passwordFile: async (name, password) => {
      const path = join(dir, name);
      await writeFile(path, `${password}\n`);
      await chmod(path, 0o600);
      return path;
    },
    onCleanup: (stop) => void stops.push(stop),
    cleanup: async () => {
      await Promise.allSettled(clients.map((c) => c.close()));
      for (const stop of stops.reverse()) await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
