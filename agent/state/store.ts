// The state file on disk: read and validated once at start, then replaced atomically on every
// change, keeping the previous good version as `<path>.prev`. One writer (this process) per file.
import { AsyncLocalStorage } from "node:async_hooks";
import { randomBytes } from "node:crypto";
import { mkdir, readFile, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { AgentError } from "../errors.js";
import type { Logger } from "../log.js";
import { errno, removeStaleTemps, writeAtomic } from "./atomic.js";
import { emptyAppState, emptyState, State, STATE_SCHEMA_VERSION, type AppState } from "./schema.js";

const DIR_MODE = 0o700;
const DEFAULT_SKIP_LIMIT = 20;
const MAX_ISSUES_SHOWN = 10;
/** How often a state that could not be written is tried again while no update comes. */
const DEFAULT_RETRY_MS = 5000;

export interface StateStoreOptions {
  log: Logger;
  /** Deploy records kept per app (newest first); `running` ones are never dropped. */
  historyLimit: number;
  /** Skip entries kept per app (newest first). Default 20. */
  skipLimit?: number;
  /** How often an unwritten state is tried again between updates. Default 5 s. */
  retryMs?: number;
}

/** The state file could not be written: since when, and the latest error. */
export interface WriteProblem {
  since: string;
  message: string;
}

export class StateStore {
  readonly #path: string;
  readonly #log: Logger;
  readonly #historyLimit: number;
  readonly #skipLimit: number;
  readonly #inUpdate = new AsyncLocalStorage<{ active: boolean }>();
  #state: Readonly<State>;
  #chain: Promise<unknown> = Promise.resolve();
  readonly #retryMs: number;
  /** Set while the state in memory is newer than the file: the episode the log and `status` report. */
  #unwritten: WriteProblem | undefined;
  #retryTimer: NodeJS.Timeout | undefined;

  private constructor(path: string, opts: StateStoreOptions, state: State) {
    this.#path = path;
    this.#log = opts.log;
    this.#historyLimit = opts.historyLimit;
    this.#skipLimit = opts.skipLimit ?? DEFAULT_SKIP_LIMIT;
    this.#retryMs = opts.retryMs ?? DEFAULT_RETRY_MS;
    this.#state = deepFreeze(state);
  }

  static async open(path: string, opts: StateStoreOptions): Promise<StateStore> {
    for (const [name, value] of [["historyLimit", opts.historyLimit], ["skipLimit", opts.skipLimit]] as const) {
      if (value !== undefined && (!Number.isInteger(value) || value < 0)) {
        throw new AgentError("BAD_ARGUMENT", `state store ${name} must be an integer ≥ 0, got ${value}`);
      }
    }
    await mkdir(dirname(path), { recursive: true, mode: DIR_MODE });
    await removeStaleTemps(path, opts.log);
    const text = await readText(path);
    if (text === undefined) {
      await refuseIfOnlyPrevExists(path);
      const store = new StateStore(path, opts, { ...emptyState(), agentId: newAgentId() });
      await writeAtomic(path, serialise(store.#state));
      opts.log.info({ file: path, agentId: store.agentId }, "state file created");
      return store;
    }
    const parsed = parseState(text);
    if (!parsed.ok) throw await corruptError(path, parsed.problem);
    const store = new StateStore(path, opts, parsed.state);
    if (parsed.state.agentId === undefined) {
      // Written by a version without identities: this agent's containers so far are recognised by their deploy records.
      await store.update((s) => {
        s.agentId = newAgentId();
      });
      opts.log.info({ file: path, agentId: store.agentId }, "state file given an agent identity");
    }
    return store;
  }

  get path(): string {
    return this.#path;
  }

  /** This agent's identity, put on every container it creates. */
  get agentId(): string {
    const id = this.#state.agentId;
    if (id === undefined) throw new AgentError("INTERNAL", `state file ${this.#path} has no agentId`);
    return id;
  }

  /**
   * Whether this state file recorded that deploy (id and digest) of `app`: as a deploy in its
   * history, the live release or a kept release. Proves a container without an owner label is ours.
   */
  recordedDeploy(app: string, deployId: string, digest: string): boolean {
    const a = this.#state.apps[app];
    if (!a) return false;
    const match = (r: { deployId?: string; id?: string; digest?: string | undefined }) => (r.deployId ?? r.id) === deployId && r.digest === digest;
    return (a.live !== undefined && match(a.live)) || a.releases.some(match) || a.history.some(match);
  }

  /** A deep-frozen snapshot of the current state. */
  snapshot(): Readonly<State> {
    return this.#state;
  }

  /** The app's state (an empty AppState if the app has none yet), frozen. */
  app(name: string): Readonly<AppState> {
    return this.#state.apps[name] ?? deepFreeze(emptyAppState());
  }

  /** Set while the file on disk is older than the state in memory (disk full, read-only). */
  get writeProblem(): Readonly<WriteProblem> | undefined {
    return this.#unwritten;
  }

  /**
   * Serialised read-modify-write: `fn` gets a mutable deep copy; on return the store bounds it,
   * validates it, makes it current and writes it atomically. If `fn` throws or the draft breaks
   * the schema, the current state is unchanged and the error propagates. A write that fails (disk
   * full, read-only filesystem) does not: what happened stays true in memory, and the file is
   * written at the next update or by a retry timer (`writeProblem` says so meanwhile). A deploy
   * must not be undone because its record could not be saved yet.
   */
  update<T>(fn: (draft: State) => T | Promise<T>): Promise<T> {
    if (this.#inUpdate.getStore()?.active) {
      // The chain would wait for the outer update, which waits for this one: a silent hang.
      return Promise.reject(new AgentError("INTERNAL", `update() of ${this.#path} called from inside update()`));
    }
    const run = this.#chain.then(() => this.#apply(fn));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #apply<T>(fn: (draft: State) => T | Promise<T>): Promise<T> {
    const draft = structuredClone(this.#state) as State;
    // The flag is cleared afterwards so work that fn merely scheduled may call update() later.
    const frame = { active: true };
    let result: T;
    try {
      result = await this.#inUpdate.run(frame, () => fn(draft));
    } finally {
      frame.active = false;
    }
    boundState(draft, this.#historyLimit, this.#skipLimit);
    const checked = State.safeParse(draft);
    if (!checked.success) {
      throw new AgentError(
        "INTERNAL",
        `state update rejected, nothing written to ${this.#path}: ${formatIssues(checked.error.issues)}`,
      );
    }
    this.#state = deepFreeze(checked.data);
    await this.#write();
    return result;
  }

  /** Writes the current state; on failure starts (or continues) an episode and arms the retry. */
  async #write(): Promise<void> {
    const state = this.#state;
    try {
      await writeAtomic(this.#path, serialise(state));
    } catch (err) {
      const message =
        `could not write state file ${this.#path}: ${err instanceof Error ? err.message : String(err)}; ` +
        `the agent keeps its state in memory and writes it once ${dirname(this.#path)} accepts writes again`;
      if (!this.#unwritten) {
        this.#log.error({ file: this.#path, err: message, hint: `check free space and permissions in ${dirname(this.#path)}` }, "state file could not be written");
        this.#unwritten = { since: new Date().toISOString(), message };
      } else {
        this.#unwritten.message = message;
      }
      this.#armRetry();
      return;
    }
    if (this.#unwritten) {
      this.#log.info({ file: this.#path, since: this.#unwritten.since }, "state file written again");
      this.#unwritten = undefined;
    }
  }

  #armRetry(): void {
    if (this.#retryTimer) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      // Through the chain, so the retry never races an update's write.
      if (this.#unwritten) this.#chain = this.#chain.then(() => (this.#unwritten ? this.#write() : undefined)).catch(() => undefined);
    }, this.#retryMs);
    this.#retryTimer.unref();
  }

  /** Stops the retry timer after one last try to write; the daemon calls it on its way out. */
  async close(): Promise<void> {
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    await this.#chain;
    if (this.#unwritten) await this.#write();
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
  }
}

/** History keeps the newest `historyLimit` records plus any older `running` one; skip the newest `skipLimit`. */
function boundState(state: State, historyLimit: number, skipLimit: number): void {
  for (const app of Object.values(state.apps)) {
    if (app.history.length > historyLimit) {
      app.history = app.history.filter((r, i) => i < historyLimit || r.outcome === "running");
    }
    if (app.skip.length > skipLimit) app.skip = app.skip.slice(0, skipLimit);
  }
}

function newAgentId(): string {
  return randomBytes(16).toString("hex");
}

function serialise(state: Readonly<State>): string {
  return `${JSON.stringify(state, null, 2)}\n`;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === "object" && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

async function readText(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    if (errno(err) === "ENOENT") return undefined;
    throw new AgentError("INTERNAL", `cannot read state file ${path}: ${(err as Error).message}`, { cause: err });
  }
}

// --- Reading and reporting a bad file ---------------------------------------------------------

export type Parsed = { ok: true; state: State } | { ok: false; problem: string };

/** The state file's text as the store reads it at start: the state, or what is wrong with it. */
export function parseState(text: string): Parsed {
  if (text.trim() === "") return { ok: false, problem: `the file is empty (${text.length} bytes)` };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, problem: describeJsonError(text, err) };
  }
  if (raw !== null && typeof raw === "object" && "schemaVersion" in raw && raw.schemaVersion !== STATE_SCHEMA_VERSION) {
    return {
      ok: false,
      problem:
        `schemaVersion is ${JSON.stringify(raw.schemaVersion)}, but this agent supports schemaVersion ` +
        `${STATE_SCHEMA_VERSION} only (a newer deploy-agent probably wrote it; upgrade this agent)`,
    };
  }
  const checked = State.safeParse(raw);
  if (!checked.success) return { ok: false, problem: `it does not match the state schema: ${formatIssues(checked.error.issues)}` };
  return { ok: true, state: checked.data };
}

function describeJsonError(text: string, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const m = /at position (\d+)/.exec(message);
  const pos = m ? Number(m[1]) : text.length;
  const before = text.slice(0, pos);
  const line = before.split("\n").length;
  const column = pos - before.lastIndexOf("\n");
  return `invalid JSON at line ${line}, column ${column}: ${message} (the file is ${Buffer.byteLength(text)} bytes; a truncated file ends early)`;
}

function formatIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  const shown = issues.slice(0, MAX_ISSUES_SHOWN).map((i) => `${formatPath(i.path)}: ${i.message}`);
  const more = issues.length > MAX_ISSUES_SHOWN ? `; and ${issues.length - MAX_ISSUES_SHOWN} more` : "";
  return shown.join("; ") + more;
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return "(top level)";
  return path.map((k, i) => (typeof k === "number" ? `[${k}]` : `${i === 0 ? "" : "."}${String(k)}`)).join("");
}

type PrevCopy = { kind: "valid"; writtenAt: string } | { kind: "missing" } | { kind: "invalid"; problem: string };

async function inspectPrev(path: string): Promise<PrevCopy> {
  const prev = `${path}.prev`;
  const text = await readFile(prev, "utf8").catch((err: unknown) => {
    if (errno(err) === "ENOENT") return undefined;
    return err instanceof Error ? err : new Error(String(err));
  });
  if (text === undefined) return { kind: "missing" };
  if (text instanceof Error) return { kind: "invalid", problem: `cannot read it: ${text.message}` };
  const parsed = parseState(text);
  if (!parsed.ok) return { kind: "invalid", problem: parsed.problem };
  return { kind: "valid", writtenAt: (await stat(prev)).mtime.toISOString() };
}

/** POSIX shell single-quoting, so the hint's commands can be pasted as they are. */
function sh(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

async function corruptError(path: string, problem: string): Promise<AgentError> {
  const prevPath = `${path}.prev`;
  const prev = await inspectPrev(path);
  const stamp = (await stat(path)).mtime.toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
  const aside = `${path}.corrupt-${stamp}`;
  const moveAside = `mv -- ${sh(path)} ${sh(aside)}`;
  const prevText =
    prev.kind === "valid"
      ? `The last good copy is ${prevPath} (written ${prev.writtenAt}).`
      : prev.kind === "missing"
        ? `There is no good copy to restore: ${prevPath} does not exist.`
        : `There is no good copy to restore: ${prevPath} is not valid either (${prev.problem}).`;
  const message =
    `state file ${path} is corrupt: ${problem}. ${prevText} ` +
    "The agent does not start until this is fixed, and never overwrites or deletes the file itself.";
  const hint =
    prev.kind === "valid"
      ? `Restore the last good copy, keeping the bad file for inspection:\n  ${moveAside} && cp -p -- ${sh(prevPath)} ${sh(path)}`
      : `Move the bad file aside to start from an empty state (deploy history and rollback releases are lost):\n  ${moveAside}`;
  return new AgentError("STATE_CORRUPT", message, { hint });
}

/**
 * Our writes never leave `<path>` missing once it exists, so a missing file next to a `.prev`
 * means someone removed it: starting empty would overwrite `.prev` at the second write.
 */
async function refuseIfOnlyPrevExists(path: string): Promise<void> {
  const prev = await inspectPrev(path);
  if (prev.kind === "missing") return;
  const prevPath = `${path}.prev`;
  const detail = prev.kind === "valid" ? `(written ${prev.writtenAt})` : `(not valid: ${prev.problem})`;
  throw new AgentError(
    "STATE_CORRUPT",
    `state file ${path} does not exist, but its previous copy ${prevPath} does ${detail}. ` +
      "The agent does not start empty over it; restore the copy or move it aside.",
    {
      hint:
        (prev.kind === "valid" ? `Restore it:\n  cp -p -- ${sh(prevPath)} ${sh(path)}\nor start` : "Start") +
        ` from an empty state:\n  mv -- ${sh(prevPath)} ${sh(`${prevPath}.old`)}`,
    },
  );
}
