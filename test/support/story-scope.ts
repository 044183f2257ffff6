// What a story leaves behind, in one place: the agent dirs it made and the daemons it started,
// removed and killed after the file's tests along with the run's containers, networks and images.
import { mkdirSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { type AgentProcess, makeAgentDir, removeDir } from "./agent.js";
import { cleanupTestRun } from "./cleanup.js";

export interface StoryScope {
  /** A fresh agent dir, removed at `close`. */
  dir(): string;
  /** Keeps `agent` to kill at `close`; returns it. */
  track(agent: AgentProcess): AgentProcess;
  close(): Promise<void>;
}

export function storyScope(prefix = "da-story-"): StoryScope {
  const dirs: string[] = [];
  const agents: AgentProcess[] = [];
  return {
    dir() {
      const d = makeAgentDir(prefix);
      dirs.push(d);
      return d;
    },
    track(agent) {
      agents.push(agent);
      return agent;
    },
    async close() {
      for (const a of agents) await a.stop("SIGKILL");
      keepLogs(agents);
      await cleanupTestRun();
      for (const d of dirs) removeDir(d);
    },
  };
}

/** Each daemon's log, kept in .test-run/agent-logs/ (named after its dir) to read after a failed run. */
function keepLogs(agents: AgentProcess[]): void {
  const dir = join(process.cwd(), ".test-run", "agent-logs");
  try {
    mkdirSync(dir, { recursive: true });
    // A story that restarts its daemon runs several in one dir: each gets a file of its own, in order.
    agents.forEach((a, i) => writeFileSync(join(dir, `${basename(a.dir)}-${i + 1}.log`), a.lines.join("\n") + "\n"));
  } catch {
    // A log that cannot be kept must not fail the story.
  }
}
