// Reading a signing key named in agent.yaml. config/files.ts has already checked the file is
// present and private; this reads it once, at start.
import { readFile } from "node:fs/promises";
import { AgentError } from "../errors.js";
import { Secret } from "../log.js";

/**
 * The key in `file`, without one trailing newline (what `echo > file` leaves); an empty file is a
 * config error naming `field`, since an empty HMAC key signs anything anyone can compute.
 */
export async function readSigningKey(file: string, field: string): Promise<Secret> {
  const key = (await readFile(file, "utf8")).replace(/\r?\n$/, "");
  if (key === "") throw new AgentError("CONFIG_INVALID", `${field}: ${file} is empty; put the signing key in it, or leave ${field.split(".").pop()} out`);
  return new Secret(key);
}
