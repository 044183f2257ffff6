// Which file modes are private enough for a secret. One rule, used by the checks at start
// (config/files.ts) and by every later read of a registry secret (registry/credentials.ts).

/**
 * `file`: a password file or an env file, which must not be readable by group or others: a leaked
 * registry token lets anyone on the host pull (or push) private images, and an env file holds the
 * app's secrets.
 * `systemd-credential`: only others are checked. systemd writes a credential 0400 and, for a
 * `User=` service, grants that user read access with an ACL, whose mask stat() shows as the group
 * bits (0440), though no group can read it
 * (https://github.com/systemd/systemd/blob/main/src/core/exec-credential.c `write_credential`).
 */
export type SecretKind = "file" | "systemd-credential";

const FORBIDDEN_BITS: Record<SecretKind, number> = { file: 0o044, "systemd-credential": 0o004 };

/** "readable by group or others (mode 644)" when `mode` is too open for `kind`, else undefined. */
export function secretModeProblem(mode: number, kind: SecretKind): string | undefined {
  if ((mode & FORBIDDEN_BITS[kind]) === 0) return undefined;
  return `readable by group or others (mode ${(mode & 0o777).toString(8)})`;
}
