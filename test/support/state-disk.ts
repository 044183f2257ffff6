// A state directory on a filesystem of its own that a test can fill up or turn read-only: a small
// tmpfs, so ENOSPC and EROFS are the kernel's own answers, as on a full or failing SD card. Needs
// root (mount); the CI runner is root.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type DiskFault = "full" | "read-only";

export interface StateDisk {
  /** Where the state file goes: `state.json` on the tmpfs. */
  statePath: string;
  /** Makes the next write fail: fills the tmpfs with a file, or remounts it read-only. */
  break(fault: DiskFault): void;
  /** Undoes `break`: the next write succeeds again. */
  heal(fault: DiskFault): void;
  /** Unmounts and removes the mount point. */
  close(): void;
}

/** Mounts a 512 KiB tmpfs under the temp dir (room for a state file and its `.prev`, and little more). */
export function mountStateDisk(prefix: string): StateDisk {
  if (process.getuid?.() !== 0) throw new Error("the state-disk cells mount a tmpfs and need root; run them as root (the CI runner is)");
  const mnt = mkdtempSync(join(tmpdir(), prefix));
  execFileSync("mount", ["-t", "tmpfs", "-o", "size=512k,mode=0700", "tmpfs", mnt]);
  const fill = join(mnt, "fill");
  return {
    statePath: join(mnt, "state.json"),
    break(fault) {
      // dd stops at ENOSPC and exits 1: that is the point, so its status is not checked.
      if (fault === "full") spawnSync("dd", ["if=/dev/zero", `of=${fill}`, "bs=16k"], { stdio: "ignore" });
      else execFileSync("mount", ["-o", "remount,ro", mnt]);
    },
    heal(fault) {
      if (fault === "full") rmSync(fill, { force: true });
      else execFileSync("mount", ["-o", "remount,rw", mnt]);
    },
    close() {
      spawnSync("umount", ["-l", mnt]);
      rmSync(mnt, { recursive: true, force: true });
    },
  };
}
