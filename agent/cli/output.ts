// What agentctl prints. Human lines go to stdout, or to stderr under --json so that stdout carries
// exactly one JSON document; the event printer and summary lines are shared by the streaming verbs.
// Everything printed passes through here and is stripped of terminal control: messages, log lines and
// names come from the daemon, and through it from containers and registries, and must not be able to
// clear a person's screen, retitle the window or hide text.
import type { DeployEvent, DeployOutcome } from "../control/protocol.js";
import { hookFailureWords } from "../state/describe.js";
import { stripControls } from "../text.js";

export interface Sink {
  write(text: string): unknown;
}

export class Output {
  constructor(
    private readonly stdout: Sink,
    private readonly stderr: Sink,
    readonly json: boolean,
  ) {}

  /** A human line: progress, tables, summaries. */
  line(text = ""): void {
    (this.json ? this.stderr : this.stdout).write(`${stripControls(text)}\n`);
  }

  /** An error or warning for a person, never on stdout. */
  problem(text: string): void {
    this.stderr.write(`${stripControls(text)}\n`);
  }

  /**
   * One line of a container's output (`agentctl logs`): its stream's own, as `docker logs` writes
   * them; under --json one compact JSON object per line, on stdout.
   */
  logLine(l: { stream: "stdout" | "stderr"; time?: string | undefined; line: string }): void {
    if (this.json) {
      this.stdout.write(`${JSON.stringify({ stream: l.stream, ...(l.time ? { time: l.time } : {}), line: stripControls(l.line) })}\n`);
      return;
    }
    (l.stream === "stderr" ? this.stderr : this.stdout).write(`${stripControls(l.line)}\n`);
  }

  /**
   * The one JSON document of a --json run. JSON.stringify already writes C0 controls as \u001b and
   * the like, but not DEL or the C1 controls (U+009B is a CSI to some terminals), and `jq -r` would
   * decode the rest back into live escapes; so every string is stripped here too.
   */
  document(value: unknown): void {
    this.stdout.write(`${JSON.stringify(value, (_key, v: unknown) => (typeof v === "string" ? stripControls(v) : v), 2)}\n`);
  }
}

/** `sha256:ab12cd34ef56`, the 12 hex digits `docker images` shows; "-" when absent. */
export function shortDigest(digest: string | undefined): string {
  if (digest === undefined) return "-";
  const m = /^sha256:([a-f0-9]{12})/.exec(digest);
  return m ? `sha256:${m[1]}` : digest;
}

/** 850ms, 3.2s, 2m05s, 1h02m. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "-";
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** How long ago or how long until, for a person at a glance: 42s, 4m10s, 3h12m, 2d03h. */
export function formatAge(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, "0")}h`;
}

export function durationBetween(from: string | undefined, to: string | undefined): string {
  if (from === undefined || to === undefined) return "-";
  return formatDuration(Date.parse(to) - Date.parse(from));
}

/** An ISO time without milliseconds: 2024-05-01T12:00:03Z. */
export function formatTime(iso: string | undefined): string {
  if (iso === undefined) return "-";
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toISOString().replace(/\.\d{3}Z$/, "Z");
}

const STEP_WIDTH = 9;

/** The step column; a longer name (predeploy, postdeploy) keeps one space after it rather than widening every line. */
function stepColumn(name: string): string {
  return name.length >= STEP_WIDTH ? `${name} ` : name.padEnd(STEP_WIDTH);
}

function prefix(app: string, deployId: string): string {
  return `${app} #${deployId}  `;
}

/**
 * One line per event as it arrives:
 *   web #12  pull     started
 *                     layer 3/7 done
 *   web #12  pull     done (3.2s)
 */
export class EventPrinter {
  readonly #stepStarts = new Map<string, string>();
  /** The step each deploy is in, until it ends: a failure ends the stream without the step's own end. */
  readonly #openSteps = new Map<string, string>();
  constructor(private readonly out: Output) {}

  /**
   * Before the outcome line of a failed or aborted deploy: the step it stopped in, so a person
   * sees where it stopped in the step column and not only in the error below.
   */
  stoppedIn(o: DeployOutcome): void {
    const step = this.#openSteps.get(o.deployId);
    if (step === undefined || (o.outcome !== "failed" && o.outcome !== "aborted")) return;
    this.#openSteps.delete(o.deployId);
    this.out.line(`${prefix(o.app, o.deployId)}${stepColumn(step)}${o.outcome}`);
  }

  print(e: DeployEvent): void {
    const p = prefix(e.app, e.deployId);
    switch (e.type) {
      case "started":
        this.out.line(`${p}${stepColumn("deploy")}${e.version} (trigger ${e.trigger})`);
        return;
      case "step": {
        const key = `${e.deployId}/${e.step}`;
        const detail = e.detail === undefined ? "" : `: ${e.detail}`;
        if (e.phase === "start") {
          this.#stepStarts.set(key, e.at);
          this.#openSteps.set(e.deployId, e.step);
          this.out.line(`${p}${stepColumn(e.step)}started${detail}`);
        } else {
          this.#openSteps.delete(e.deployId);
          const took = this.#stepStarts.has(key) ? ` (${durationBetween(this.#stepStarts.get(key), e.at)})` : "";
          this.out.line(`${p}${stepColumn(e.step)}done${took}${detail}`);
        }
        return;
      }
      case "progress":
        this.out.line(`${" ".repeat(p.length + STEP_WIDTH)}${e.message}`);
        return;
    }
  }
}

/** The last line of a deploy or rollback. */
export function outcomeLine(o: DeployOutcome): string {
  const p = prefix(o.app, o.deployId);
  const what = `${o.version} (${shortDigest(o.digest)})`;
  switch (o.outcome) {
    case "succeeded":
      return `${p}succeeded: ${what} is live${o.slot ? ` in slot ${o.slot}` : ""}${o.generation !== undefined ? `, generation ${o.generation}` : ""}`;
    case "unchanged":
      return `${p}unchanged: ${what} is already live`;
    case "failed":
    case "aborted":
      return `${p}${o.outcome}: ${what} was not deployed; the previous release keeps serving`;
  }
}

/** After the outcome line: a release step that failed, with its last output lines (a failed postdeploy as a warning: the release is live). */
export function printHooks(out: Output, o: DeployOutcome): void {
  for (const role of ["predeploy", "postdeploy"] as const) {
    const h = o.hooks?.[role];
    const failure = hookFailureWords(h);
    if (!h || !failure) continue;
    const tail = role === "postdeploy" ? "; the new release stays live" : "";
    out.problem(`${role === "postdeploy" ? "warning: " : ""}${role} ${failure}${tail}${h.output ? "; its last output lines:" : ""}`);
    for (const line of h.output.split("\n")) if (h.output) out.problem(`  ${line}`);
  }
}

/** Prints an outcome's error and hint to stderr. */
export function printOutcomeError(out: Output, o: DeployOutcome): void {
  if (o.error === undefined) return;
  out.problem(`error: ${o.error.message} [${o.error.code}]`);
  if (o.error.hint !== undefined) out.problem(`hint: ${o.error.hint}`);
}

export function outcomeExitCode(o: DeployOutcome): number {
  return o.outcome === "succeeded" || o.outcome === "unchanged" ? 0 : 1;
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const fmt = (cells: string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return [fmt(header), ...rows.map(fmt)];
}

export function truncate(text: string, max: number): string {
  const one = text.replace(/\s+/g, " ").trim();
  return one.length <= max ? one : `${one.slice(0, max - 1)}…`;
}
