// What a story leaves behind, in one place: the agent dirs it made and the daemons it started,
// removed and killed after the file's tests along with the run's containers, networks and images.
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
      await cleanupTestRun();
      for (const d of dirs) removeDir(d);
    },
  };
}
