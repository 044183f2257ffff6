// A network namespace of a test's own, for a private dockerd: whatever that dockerd does to links,
// bridges, routes or iptables happens inside it and cannot touch the host's (a dockerd in the host's
// namespace deleted the host's docker0 at start, which broke every later image build). The host
// reaches the dockerd's container networks through a veth pair and one route; the dockerd reaches
// servers on the host's loopback (the registry) through forwarders that pass each connection over a
// unix socket, since a file is what both namespaces share.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";

export interface Netns {
  name: string;
  /** The pool the dockerd's networks come from: routed from the host into the namespace. */
  pool: string;
  /** `nsenter` arguments that run a command in the namespace (the host's mount namespace, so cgroups stay visible). */
  enter: string[];
  /** Makes the host's 127.0.0.1:`port` answer on 127.0.0.1:`port` inside the namespace. */
  reach(port: number): Promise<void>;
  /** Stops the forwarders, kills what still runs in the namespace, and removes it and its veth. */
  close(): Promise<void>;
}

// Forwards 127.0.0.1:port inside the namespace to a unix socket the host side listens on.
const INSIDE_FORWARDER = `const net=require("net");const [port,sock]=process.argv.slice(1);
net.createServer((c)=>{const u=net.connect(sock);c.pipe(u);u.pipe(c);const end=()=>{c.destroy();u.destroy();};c.on("error",end);u.on("error",end);})
.listen(Number(port),"127.0.0.1",()=>console.log("ready"));`;

/**
 * Opens namespace `name` with a veth to the host, after removing whatever a killed earlier run of
 * the same name left (`sweep`), so the set-up is idempotent. `dir` holds the forwarders' sockets.
 */
export async function openNetns(name: string, dir: string): Promise<Netns> {
  const hostIf = `${name}-h`;
  const second = freeSecondOctet();
  const pool = `10.${second}.0.0/17`;
  const [hostAddr, nsAddr] = [`10.${second}.255.1`, `10.${second}.255.2`];
  const enter = ["nsenter", `--net=/var/run/netns/${name}`];
  const forwarders: ChildProcess[] = [];
  const servers: net.Server[] = [];
  const open = new Set<net.Socket>();
  try {
    execFileSync("ip", ["netns", "add", name]);
    execFileSync("ip", ["link", "add", hostIf, "type", "veth", "peer", "name", "uplink", "netns", name]);
    execFileSync("ip", ["addr", "add", `${hostAddr}/30`, "dev", hostIf]);
    execFileSync("ip", ["link", "set", hostIf, "up"]);
    const inside = (...args: string[]) => execFileSync("ip", ["netns", "exec", name, ...args]);
    inside("ip", "link", "set", "lo", "up");
    inside("ip", "addr", "add", `${nsAddr}/30`, "dev", "uplink");
    inside("ip", "link", "set", "uplink", "up");
    inside("ip", "route", "add", "default", "via", hostAddr);
    // Set before dockerd starts: it then leaves the FORWARD policy alone (ACCEPT in a new namespace).
    inside("sysctl", "-qw", "net.ipv4.ip_forward=1");
    execFileSync("ip", ["route", "replace", pool, "via", nsAddr, "dev", hostIf]);
  } catch (err) {
    sweepNetns(name);
    throw err;
  }
  return {
    name,
    pool,
    enter,
    async reach(port) {
      const sock = join(dir, `fwd-${port}.sock`);
      const server = net.createServer((c) => {
        const u = net.connect(port, "127.0.0.1");
        for (const sock of [c, u]) {
          open.add(sock);
          sock.once("close", () => open.delete(sock));
        }
        c.pipe(u);
        u.pipe(c);
        const end = () => (c.destroy(), u.destroy());
        c.on("error", end);
        u.on("error", end);
      });
      await new Promise<void>((resolve, reject) => server.once("error", reject).listen(sock, resolve));
      servers.push(server);
      const child = spawn(enter[0]!, [...enter.slice(1), process.execPath, "-e", INSIDE_FORWARDER, String(port), sock], { stdio: ["ignore", "pipe", "inherit"] });
      forwarders.push(child);
      await new Promise<void>((resolve, reject) => {
        child.stdout!.once("data", () => resolve());
        child.once("exit", (code) => reject(new Error(`the forwarder of port ${port} into ${name} exited with ${code}`)));
      });
    },
    async close() {
      for (const f of forwarders) f.kill("SIGKILL");
      for (const sock of open) sock.destroy();
      for (const s of servers) await new Promise<void>((resolve) => s.close(() => resolve()));
      sweepNetns(name);
    },
  };
}

/** Kills every process left in namespace `name`, then removes it and its host veth (quiet when absent). */
export function sweepNetns(name: string): void {
  if (existsSync(`/var/run/netns/${name}`)) {
    const pids = quiet("ip", ["netns", "pids", name]).split("\n").filter(Boolean);
    for (const pid of pids) killQuiet(Number(pid));
    quiet("ip", ["netns", "del", name]);
  }
  // The veth goes with the namespace; a half-made set-up may have left the host end alone.
  quiet("ip", ["link", "delete", `${name}-h`]);
}

/** Kills the processes of the containers whose ids are dirs under `containersDir` (a dead dockerd's leftovers). */
export function killContainerProcesses(containersDir: string): void {
  if (!existsSync(containersDir)) return;
  const ids = readdirSync(containersDir).filter((d) => /^[0-9a-f]{64}$/.test(d));
  if (ids.length === 0) return;
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    let cgroup = "";
    try {
      cgroup = readFileSync(`/proc/${pid}/cgroup`, "utf8");
    } catch {
      continue;
    }
    if (ids.some((id) => cgroup.includes(id))) killQuiet(Number(pid));
  }
}

/** Unmounts whatever is mounted under `dir` (deepest first), then removes it. */
export function removeDirAndMounts(dir: string): void {
  const mounts = readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .map((l) => l.split(" ")[1] ?? "")
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) quiet("umount", ["-l", m]);
  rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
}

function quiet(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  } catch {
    return "";
  }
}

function killQuiet(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** A second octet y such that no route of the host touches 10.y.0.0/16 (the main dockerd's pools are 172.17–31 and 192.168). */
function freeSecondOctet(): number {
  const used = new Set<number>();
  for (const line of readFileSync("/proc/net/route", "utf8").split("\n").slice(1)) {
    const dest = line.split("\t")[1];
    if (!dest || dest.length !== 8) continue;
    // /proc/net/route holds addresses little-endian in hex: the first octet is the last byte.
    const [b0, b1] = [parseInt(dest.slice(6, 8), 16), parseInt(dest.slice(4, 6), 16)];
    if (b0 === 10) used.add(b1);
  }
  const start = process.pid % 150;
  for (let i = 0; i < 150; i++) {
    const second = 100 + ((start + i) % 150);
    if (!used.has(second)) return second;
  }
  throw new Error("no free 10.x.0.0/16 for a private dockerd's networks");
}
