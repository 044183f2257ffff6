// Atomic replacement of one file: temp file, fsync, hard-link (or copy) of the current file as
// `.prev`, rename, fsync of the directory. Used by the state store (store.ts).
import { randomBytes } from "node:crypto";
import { copyFile, link, open, readdir, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { Logger } from "../log.js";

const FILE_MODE = 0o600;

/** Temp files live next to the state file (rename is atomic only within one filesystem). */
function tempPrefix(path: string): string {
  return `.${basename(path)}.tmp-`;
}

function tempName(path: string): string {
  return join(dirname(path), `${tempPrefix(path)}${process.pid}-${randomBytes(6).toString("hex")}`);
}

/**
 * Invariant at every instant, whatever kills us: `<path>` is a complete, fsynced, valid file (old
 * or new), and so is `<path>.prev` when it exists. Files are never modified in place, only
 * replaced by rename, so hard-linking the current inode as `.prev` is a safe, instant copy.
 */
export async function writeAtomic(path: string, text: string): Promise<void> {
  const tmp = tempName(path);
  let prevTmp: string | undefined;
  try {
    const fh = await open(tmp, "wx", FILE_MODE);
    try {
      await fh.chmod(FILE_MODE);
      await fh.writeFile(text, "utf8");
      await fh.sync();
    } finally {
      await fh.close();
    }
    prevTmp = await snapshotCurrent(path);
    if (prevTmp !== undefined) await rename(prevTmp, `${path}.prev`);
    await rename(tmp, path);
    await syncDir(dirname(path));
  } catch (err) {
    await rm(tmp, { force: true });
    if (prevTmp !== undefined) await rm(prevTmp, { force: true });
    throw err;
  }
}

/** A temp name holding the current file's content, or undefined when there is no current file. */
async function snapshotCurrent(path: string): Promise<string | undefined> {
  const tmp = tempName(path);
  try {
    await link(path, tmp);
    return tmp;
  } catch (err) {
    if (errno(err) === "ENOENT") return undefined;
    if (!["EPERM", "ENOTSUP", "EOPNOTSUPP", "EXDEV", "EMLINK"].includes(errno(err) ?? "")) throw err;
  }
  // Filesystems without hard links: a copy, fsynced before it can become `.prev`.
  await copyFile(path, tmp);
  const fh = await open(tmp, "r+");
  try {
    await fh.chmod(FILE_MODE);
    await fh.sync();
  } finally {
    await fh.close();
  }
  return tmp;
}

/** Makes the renames durable (rename(2) alone may be lost on power failure). */
async function syncDir(dir: string): Promise<void> {
  const dh = await open(dir, "r");
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/** Removes temp files an interrupted write left beside `path`, logging each. */
export async function removeStaleTemps(path: string, log: Logger): Promise<void> {
  const prefix = tempPrefix(path);
  for (const name of await readdir(dirname(path))) {
    if (!name.startsWith(prefix)) continue;
    const file = join(dirname(path), name);
    await rm(file, { force: true });
    log.warn({ file }, "removed a temp file left by an interrupted state write");
  }
}

/** The `code` of a Node.js system error (ENOENT, EXDEV, …). */
export function errno(err: unknown): string | undefined {
  return err instanceof Error && "code" in err && typeof err.code === "string" ? err.code : undefined;
}
