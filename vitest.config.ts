import { defineConfig } from "vitest/config";

// Integration and story tests share one Docker Engine and one registry; running those files in
// parallel would make them fight over CPU and ports on a 2-core box. Unit tests touch neither, so
// they run first, on every core (several compile with tsc and are CPU-bound), and the Engine's
// files then run one at a time: sequence.groupOrder runs the groups one after the other
// (https://vitest.dev/guide/recipes/parallel-sequential).
const UNIT = "test/unit/**/*.test.ts";

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 300_000,
    env: { TESTCONTAINERS_RYUK_DISABLED: "true" },
    // The JSON report is what test/tools/reliability-check.ts holds docs/reliability.md against.
    reporters: ["default", ["json", { outputFile: ".test-run/vitest.json" }]],
    projects: [
      // Four workers on two cores: most unit time is spent waiting on child processes, sockets and
      // timers (agentctl runs, the control socket, the state store's fsyncs), not on the CPU.
      { extends: true, test: { name: "unit", include: [UNIT], maxWorkers: 4, sequence: { groupOrder: 0 } } },
      {
        extends: true,
        test: {
          name: "engine",
          include: ["test/**/*.test.ts"],
          exclude: [UNIT],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
          // Builds each fixture image once per run, not once per file.
          globalSetup: ["test/support/fixture-cache.ts"],
        },
      },
    ],
  },
});
