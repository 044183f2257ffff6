// The state file as `deploy-agent --check` sees it: read only, never created, written or locked,
// and judged as the daemon would judge it at start (agent/state/store.ts refuses the same files).
import { existsSync, readFileSync } from "node:fs";
import { parseState } from "../state/store.js";

export interface StateCheck {
  /** One line for the summary: "valid, 2 apps recorded", "not created yet". */
  summary: string;
  /** What stops the daemon from starting on this file. */
  problem?: string;
  /** What this user cannot check here. */
  warning?: string;
  /** The live version per app, where the file records one. */
  live: Record<string, string>;
}

export function checkStateFile(path: string): StateCheck {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    if (code === "ENOENT") {
      // The store refuses to start empty beside a previous copy: it would overwrite it.
      return existsSync(`${path}.prev`)
        ? { summary: "missing", problem: `state file ${path} does not exist, but its previous copy ${path}.prev does; restore the copy or move it aside`, live: {} }
        : { summary: "not created yet; the daemon creates it", live: {} };
    }
    if (code === "EACCES") {
      return { summary: "not readable here", warning: `state: cannot read ${path} (EACCES) as uid ${process.getuid?.() ?? "?"}; run --check as root or as the agent's user to check it`, live: {} };
    }
    return { summary: "unreadable", problem: `cannot read state file ${path}: ${code}`, live: {} };
  }
  const parsed = parseState(text);
  if (!parsed.ok) {
    return { summary: "corrupt", problem: `state file ${path} is corrupt: ${parsed.problem}; deploy-agent does not start on it (its message at start names the fix)`, live: {} };
  }
  const state = parsed.state;
  const live = Object.fromEntries(Object.entries(state.apps).flatMap(([app, s]) => (s.live ? [[app, s.live.version]] : [])));
  const count = Object.keys(state.apps).length;
  return { summary: `valid, ${count} app${count === 1 ? "" : "s"} recorded`, live };
}
