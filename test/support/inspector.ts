// A child process's V8 inspector, for benches that measure memory: a full garbage collection on
// demand and heap snapshots. The child is started with `--inspect=127.0.0.1:0` (see
// `inspectorEnv`); this speaks the Chrome DevTools Protocol to it over the WebSocket it announces
// (https://chromedevtools.github.io/devtools-protocol/v8/HeapProfiler/). Needs a global WebSocket:
// Node 22, or Node 20 with --experimental-websocket.
import { createWriteStream } from "node:fs";

export interface Inspector {
  /** A full, compacting garbage collection in the child; resolves when it is done. */
  collectGarbage(): Promise<void>;
  /** Writes a heap snapshot (load it in Chrome DevTools' Memory tab) to `path`. */
  heapSnapshot(path: string): Promise<void>;
  close(): void;
}

/** NODE_OPTIONS for a child whose inspector `connectInspector` can reach: loopback, a free port. */
export const INSPECT_OPTION = "--inspect=127.0.0.1:0";

/** The inspector's WebSocket URL from the child's output lines ("Debugger listening on ws://…"). */
export function inspectorUrl(lines: readonly string[]): string | undefined {
  for (const line of lines) {
    const m = /Debugger listening on (ws:\/\/\S+)/.exec(line);
    if (m) return m[1];
  }
  return undefined;
}

export async function connectInspector(url: string): Promise<Inspector> {
  const WS = (globalThis as { WebSocket?: typeof WebSocket }).WebSocket;
  if (!WS) throw new Error("no global WebSocket: run node with --experimental-websocket (Node 20) or use Node 22");
  const ws = new WS(url);
  await new Promise<void>((res, rej) => {
    ws.addEventListener("open", () => res(), { once: true });
    ws.addEventListener("error", () => rej(new Error(`cannot connect to the inspector at ${url}`)), { once: true });
  });
  let nextId = 0;
  const pending = new Map<number, { res: (v: unknown) => void; rej: (e: Error) => void }>();
  let onChunk: ((chunk: string) => void) | undefined;
  ws.addEventListener("message", (ev: MessageEvent) => {
    const msg = JSON.parse(String(ev.data)) as { id?: number; result?: unknown; error?: { message: string }; method?: string; params?: { chunk?: string } };
    if (msg.method === "HeapProfiler.addHeapSnapshotChunk") onChunk?.(msg.params?.chunk ?? "");
    if (msg.id === undefined) return;
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) p?.rej(new Error(`inspector: ${msg.error.message}`));
    else p?.res(msg.result);
  });
  const call = (method: string, params: object = {}) =>
    new Promise<unknown>((res, rej) => {
      const id = ++nextId;
      pending.set(id, { res, rej });
      ws.send(JSON.stringify({ id, method, params }));
    });
  return {
    async collectGarbage() {
      await call("HeapProfiler.collectGarbage");
    },
    async heapSnapshot(path) {
      const out = createWriteStream(path);
      onChunk = (chunk) => out.write(chunk);
      try {
        await call("HeapProfiler.takeHeapSnapshot", { reportProgress: false });
      } finally {
        onChunk = undefined;
        await new Promise<void>((res) => out.end(res));
      }
    },
    close: () => ws.close(),
  };
}
