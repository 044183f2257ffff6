// A Unix socket that only counts who connects: put where the Engine's or the control socket would
// be, it shows that a command never reached for either.
import { createServer } from "node:net";

export interface CountingSocket extends AsyncDisposable {
  path: string;
  connections(): number;
}

export async function countingSocket(path: string): Promise<CountingSocket> {
  let count = 0;
  const server = createServer((s) => {
    count++;
    s.destroy();
  });
  await new Promise<void>((res, rej) => {
    server.once("error", rej);
    server.listen(path, () => res());
  });
  return {
    path,
    connections: () => count,
    [Symbol.asyncDispose]: () => new Promise<void>((res) => server.close(() => res())),
  };
}
