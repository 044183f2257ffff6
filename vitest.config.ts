import { defineConfig } from "vitest/config";

// Integration and story tests share one Docker Engine and one registry; running
// test files in parallel would make them fight over CPU and ports on a 2-core box.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 300_000,
    env: { TESTCONTAINERS_RYUK_DISABLED: "true" },
    // The JSON report is what test/tools/reliability-check.ts holds docs/reliability.md against.
    reporters: ["default", ["json", { outputFile: ".test-run/vitest.json" }]],
  },
});
