// agentctl compiled on its own for the tests that run it as the operator does, in a child process.
// Only agentctl's import closure is compiled, into a temp dir, so a half-edited file elsewhere in the
// tree cannot break those tests; the temp dir gets a package.json and node_modules to run.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chmod, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../..", import.meta.url)).replace(/\/$/, "");

export interface CompiledAgentctl {
  /** The compiled agentctl.js. */
  path: string;
  /** A temp dir of its own (mode 0755), removed by remove(). */
  work: string;
  remove(): Promise<void>;
}

export async function compileAgentctl(): Promise<CompiledAgentctl> {
  const work = await mkdtemp(join(tmpdir(), "agentctl-test-"));
  await chmod(work, 0o755);
  const out = join(work, "out");
  await writeFile(
    join(work, "tsconfig.json"),
    JSON.stringify({
      extends: join(REPO, "tsconfig.json"),
      compilerOptions: { outDir: out, rootDir: REPO, sourceMap: false, typeRoots: [join(REPO, "node_modules/@types")] },
      files: [join(REPO, "agent/cli/agentctl.ts")],
      include: [],
    }),
  );
  const tsc = spawnSync(process.execPath, [join(REPO, "node_modules/typescript/bin/tsc"), "-p", join(work, "tsconfig.json")], { encoding: "utf8" });
  if (tsc.status !== 0) throw new Error(`compiling agentctl failed:\n${tsc.stdout}${tsc.stderr}`);
  const pkg = JSON.parse(await readFile(join(REPO, "package.json"), "utf8")) as { version: string };
  await writeFile(join(out, "package.json"), JSON.stringify({ name: "deploy-agent", version: pkg.version, type: "module" }));
  await symlink(join(REPO, "node_modules"), join(out, "node_modules"));
  return { path: join(out, "agent/cli/agentctl.js"), work, remove: () => rm(work, { recursive: true, force: true }) };
}

export interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Collects a child's output and exit status; the server answering it may live in this process's event loop. */
export function collect(child: ChildProcess): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    let stdout = "";
    let stderr = "";
    child.stdout?.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr?.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    child.on("error", reject);
    child.on("close", (code) => resolvePromise({ code, stdout, stderr }));
  });
}

/** Runs agentctl asynchronously with stdin closed. */
export function runAgentctl(agentctl: string, args: string[], opts: { uid?: number; gid?: number } = {}): Promise<Run> {
  return collect(spawn(process.execPath, [agentctl, ...args], { stdio: ["ignore", "pipe", "pipe"], ...opts }));
}
