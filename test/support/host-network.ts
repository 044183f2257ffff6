// Proof that a private dockerd left the host alone: the main dockerd's default bridge still exists
// with its address, and an image build whose RUN step needs that bridge still works on the main
// Engine (a private dockerd in the host's namespace once deleted docker0, and every later build
// failed with "could not find bridge docker0").
import { execFileSync } from "node:child_process";
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const MAIN_ENGINE = "unix:///var/run/docker.sock";
const BUSYBOX = "/usr/bin/busybox";

/** docker0's IPv4 addresses (CIDR), or undefined when the link is gone. */
export function docker0Addresses(): string[] | undefined {
  try {
    const out = execFileSync("ip", ["-j", "-4", "addr", "show", "dev", "docker0"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const links = JSON.parse(out) as { addr_info?: { local: string; prefixlen: number }[] }[];
    return links.flatMap((l) => (l.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`));
  } catch {
    return undefined;
  }
}

/** Builds, on the main Engine, an image with a RUN step, then removes it; throws with the build's output if it fails. */
export function buildOnMainEngine(tag: string): void {
  const context = mkdtempSync(join(tmpdir(), "dd-build-"));
  try {
    copyFileSync(BUSYBOX, join(context, "busybox"));
    writeFileSync(join(context, "Dockerfile"), 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "true"]\n');
    execFileSync("docker", ["-H", MAIN_ENGINE, "build", "-q", "--network", "bridge", "-t", tag, context], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
    execFileSync("docker", ["-H", MAIN_ENGINE, "rmi", tag], { stdio: "ignore" });
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}
