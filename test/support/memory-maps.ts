// Where a process's private memory lives, from /proc/<pid>/smaps (proc(5)): glibc malloc's main
// arena (the brk heap, "[heap]"), its per-thread arenas, and the rest, which in a Node process is
// mostly V8's heap pages and large buffers mmap'd on their own. A thread arena is found by its
// shape (glibc malloc/arena.c, new_heap): a mapping that starts on a HEAP_MAX_SIZE (64 MB on 64-bit)
// boundary and, with the inaccessible reserve right after it, spans exactly that much.
import { readFileSync } from "node:fs";

export interface MemoryMaps {
  /** Anonymous memory of the brk heap (malloc's main arena), MB. */
  mainArenaMb: number;
  /** Anonymous memory of malloc's thread arenas, MB. */
  threadArenasMb: number;
  /** All other anonymous memory (V8's heap, mmap'd allocations, thread stacks), MB. */
  otherMb: number;
}

const ARENA_SPAN = 64 * 1024 * 1024;

interface Mapping {
  start: number;
  end: number;
  perms: string;
  name: string;
  anonKb: number;
}

function readMappings(pid: number): Mapping[] {
  const maps: Mapping[] = [];
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (head) maps.push({ start: parseInt(head[1]!, 16), end: parseInt(head[2]!, 16), perms: head[3]!, name: head[4]!.trim(), anonKb: 0 });
    else if (line.startsWith("Anonymous:") && maps.length > 0) maps.at(-1)!.anonKb = Number(line.split(/\s+/)[1]);
  }
  return maps;
}

export function memoryMaps(pid: number): MemoryMaps {
  const maps = readMappings(pid);
  const kb = { main: 0, arenas: 0, other: 0 };
  maps.forEach((m, i) => {
    if (m.name === "[heap]") kb.main += m.anonKb;
    else if (m.name !== "") return;
    else if (isThreadArena(m, maps[i + 1])) kb.arenas += m.anonKb;
    else kb.other += m.anonKb;
  });
  return { mainArenaMb: kb.main / 1024, threadArenasMb: kb.arenas / 1024, otherMb: kb.other / 1024 };
}

function isThreadArena(m: Mapping, next: Mapping | undefined): boolean {
  if (!m.perms.startsWith("rw") || m.start % ARENA_SPAN !== 0) return false;
  const reserveAfter = next !== undefined && next.start === m.end && next.perms.startsWith("---") && next.name === "";
  return m.end - m.start === ARENA_SPAN || (reserveAfter && next.end - m.start === ARENA_SPAN);
}
