// A wall clock the test can jump, for a child process: libfaketime (Debian package faketime,
// https://github.com/wolfcw/libfaketime) preloaded into node. Only CLOCK_REALTIME (Date) moves;
// FAKETIME_DONT_FAKE_MONOTONIC leaves the monotonic clock, which Node's timers and
// performance.now() run on, as it is, the way NTP's first sync moves a Pi's clock at boot.
import { execFileSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const LIBRARY_NAME = "libfaketime.so.1";

/** Where the faketime package put the preload library, or an error that says how to get it. */
export function faketimeLibrary(): string {
  let files = "";
  try {
    files = execFileSync("dpkg", ["-L", "libfaketime"], { encoding: "utf8" });
  } catch {
    // not installed: reported below
  }
  const found = files.split("\n").find((f) => f.endsWith(`/${LIBRARY_NAME}`) && existsSync(f));
  if (found === undefined) {
    throw new Error(`${LIBRARY_NAME} not found (dpkg -L libfaketime): install it with "apt-get install -y faketime", or run bash test/env/ensure.sh, which does`);
  }
  return found;
}

export interface FakeWallClock {
  /** The child's environment: preload, the offset file, and a real monotonic clock. */
  env: NodeJS.ProcessEnv;
  /** Sets the child's wall clock to the real time plus `offsetSeconds` (negative: behind), at once. */
  setOffset(offsetSeconds: number): void;
  /** The offset now, in milliseconds: a time the child logged, less this, is the real time. */
  offsetMs(): number;
}

/** A wall clock that starts at the real time; its offset file lives in `dir`. */
export function fakeWallClock(dir: string): FakeWallClock {
  const file = join(dir, "faketime-offset");
  let offset = 0;
  const setOffset = (offsetSeconds: number) => {
    writeFileSync(file, `${offsetSeconds >= 0 ? "+" : ""}${offsetSeconds}\n`);
    offset = offsetSeconds;
  };
  setOffset(0);
  return {
    env: {
      LD_PRELOAD: faketimeLibrary(),
      FAKETIME_TIMESTAMP_FILE: file,
      // Read the file at every clock call, so a rewrite jumps the clock at once.
      FAKETIME_NO_CACHE: "1",
      FAKETIME_DONT_FAKE_MONOTONIC: "1",
    },
    setOffset,
    offsetMs: () => offset * 1000,
  };
}
