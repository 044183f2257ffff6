// A distribution registry with htpasswd (Basic) auth inside the systemd test container, run as a
// transient unit: the agent reaches it on the container's loopback, the host pushes to it on the
// container's bridge address. The binary is the host's Debian docker-registry, copied in.
import { bcryptHash } from "../support/registry-server.js";

const REGISTRY_BIN = "/usr/bin/docker-registry";
const UNIT = "deploy-agent-test-registry.service";
const CONF_DIR = "/etc/deploy-agent-test-registry";
const DATA_DIR = "/var/lib/deploy-agent-test-registry";
const SERVING_DEADLINE_MS = 30_000;

export interface ContainerRegistryOptions {
  container: string;
  port: number;
  users: Record<string, string>;
  /** Runs `docker <args>` on the host and returns stdout; throws on a non-zero exit. */
  docker: (args: string[]) => Promise<string>;
  /** Runs a bash script inside the container and returns stdout; throws on a non-zero exit. */
  sh: (script: string) => Promise<string>;
}

export interface ContainerRegistry {
  /** `127.0.0.1:<port>`: the image host as the agent inside the container sees it. */
  host: string;
  /** `http://<bridge address>:<port>`: the same registry as the host reaches it. */
  urlFromHost: string;
  stop(): Promise<void>;
}

export async function startContainerRegistry(opts: ContainerRegistryOptions): Promise<ContainerRegistry> {
  const { container, port, users, docker, sh } = opts;
  await docker(["cp", REGISTRY_BIN, `${container}:/usr/local/bin/docker-registry`]);
  const htpasswd = (await Promise.all(Object.entries(users).map(async ([u, p]) => `${u}:${await bcryptHash(p)}`))).join("\n");
  // Listening on every address of the container: 127.0.0.1 for the agent, the bridge for the host.
  const config = [
    "version: 0.1",
    "log: { level: warn, accesslog: { disabled: true } }",
    `storage: { filesystem: { rootdirectory: ${DATA_DIR} } }`,
    `http: { addr: ":${port}", secret: test-secret }`,
    `auth: { htpasswd: { realm: deploy-agent-test, path: ${CONF_DIR}/htpasswd } }`,
  ].join("\n");
  await sh(
    `install -d -m 0700 ${CONF_DIR} ${DATA_DIR}\n` +
      `cat > ${CONF_DIR}/htpasswd <<'EOF'\n${htpasswd}\nEOF\n` +
      `cat > ${CONF_DIR}/config.yml <<'EOF'\n${config}\nEOF\n` +
      `systemd-run --quiet --unit=${UNIT} --property=Type=exec /usr/local/bin/docker-registry serve ${CONF_DIR}/config.yml`,
  );
  const stop = async (): Promise<void> => {
    await sh(`systemctl stop ${UNIT} 2>/dev/null; systemctl reset-failed ${UNIT} 2>/dev/null; true`);
  };
  try {
    const address = (await docker(["inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}", container])).trim().split(" ")[0];
    if (!address) throw new Error(`container ${container} has no bridge IP address; the host cannot push to its registry`);
    const urlFromHost = `http://${address}:${port}`;
    await waitForBasicChallenge(urlFromHost, sh);
    return { host: `127.0.0.1:${port}`, urlFromHost, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Serving, and asking for Basic credentials: an anonymous `GET /v2/` answers 401 with a Basic challenge. */
async function waitForBasicChallenge(url: string, sh: (script: string) => Promise<string>): Promise<void> {
  const end = Date.now() + SERVING_DEADLINE_MS;
  let last = "no answer yet";
  while (Date.now() < end) {
    try {
      const res = await fetch(`${url}/v2/`, { signal: AbortSignal.timeout(2000) });
      const challenge = res.headers.get("www-authenticate") ?? "";
      if (res.status === 401 && /^basic /i.test(challenge)) return;
      last = `HTTP ${res.status} ${challenge}`;
    } catch (err) {
      last = String(err);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  const log = await sh(`journalctl -u ${UNIT} --no-pager -n 20 -o cat; true`).catch(() => "");
  throw new Error(
    `the registry in the container did not answer ${url}/v2/ with 401 and a Basic challenge within ${SERVING_DEADLINE_MS / 1000}s (last: ${last})\n${log}`,
  );
}
