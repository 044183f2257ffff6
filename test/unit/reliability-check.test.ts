import { describe, expect, it } from "vitest";
import { parseRows, problems, type VitestReport } from "../tools/reliability-check.js";

const doc = `# t

| threat or fault | what the agent does | test that proves it |
|---|---|---|
| a | does a | \`test/unit/a.test.ts\` "does a", "does a again"; \`test/stories/b.test.ts\` "does b when 'quoted'" |
| c | does c | \`test/unit/c.test.ts\` |

| other | table |
|---|---|
| not | cited |
`;

const report = (status: string): VitestReport => ({
  testResults: [
    { name: "/r/test/unit/a.test.ts", assertionResults: [{ title: "does a", fullName: "group does a", status: "passed" }, { title: "does a again", fullName: "does a again", status }] },
    { name: "/r/test/stories/b.test.ts", assertionResults: [{ title: "does b when 'quoted'", fullName: "x does b when 'quoted'", status: "passed" }] },
  ],
});

describe("the reliability table check", () => {
  it("reads every cited file and test name of the tables whose last column is the proving test, and no other table", () => {
    const rows = parseRows(doc);
    expect(rows.map((r) => r.line)).toEqual([5, 6]);
    expect(rows[0]!.citations.map((c) => `${c.file} ${c.name}`)).toEqual([
      "test/unit/a.test.ts does a",
      "test/unit/a.test.ts does a again",
      "test/stories/b.test.ts does b when 'quoted'",
    ]);
    expect(rows[1]!.citations).toEqual([]);
  });

  it("finds nothing wrong when every cited test passed, and names a row that cites no test", () => {
    expect(problems(parseRows(doc), report("passed"), "/r")).toEqual([expect.stringMatching(/^line 6: names no test/)]);
  });

  it("names a cited test that was skipped or failed, one that does not exist, and a file that did not run", () => {
    const rows = parseRows(doc.replace('"does a again"', '"does a again", "does z"').replace("test/stories/b.test.ts", "test/stories/gone.test.ts"));
    expect(problems(rows, report("skipped"), "/r")).toEqual([
      'line 5: test/unit/a.test.ts "does a again" skipped in this run',
      'line 5: test/unit/a.test.ts has no test named "does z"',
      "line 5: test/stories/gone.test.ts did not run in this test run",
      expect.stringMatching(/^line 6: names no test/),
    ]);
  });
});
