// At most `n` of something at once; the rest wait in arrival order.

export type Limiter = <T>(fn: () => Promise<T>) => Promise<T>;

export function limitConcurrency(n: number): Limiter {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
