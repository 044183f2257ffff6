// docs/reliability.md cites, for every threat and fault, the tests that prove what the agent does.
// After the suite has run, this checks each citation against vitest's JSON report of that run:
// every row names at least one test, and every test it names ran and passed. A renamed, removed
// or skipped test fails `npm test`, so the table cannot drift from the suite.
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";

export interface Citation {
  line: number;
  file: string;
  name: string;
}

export interface Row {
  line: number;
  text: string;
  citations: Citation[];
}

/** The subset of vitest's JSON reporter output (jest's format) that the check reads. */
export interface VitestReport {
  testResults: { name: string; assertionResults: { title: string; fullName: string; status: string }[] }[];
}

/**
 * Rows of every table whose last column is "test that proves it". A citation is a backticked test
 * file followed by one or more test names in double quotes (so a cited name holds no double quote),
 * separated by ", ".
 */
export function parseRows(markdown: string): Row[] {
  const rows: Row[] = [];
  let inTable = false;
  markdown.split("\n").forEach((text, i) => {
    if (!text.startsWith("|")) {
      inTable = false;
      return;
    }
    if (/\|\s*test that proves it\s*\|\s*$/.test(text)) {
      inTable = true;
      return;
    }
    if (!inTable || /^\|[-| ]+\|$/.test(text)) return;
    const cell = text.replace(/\|\s*$/, "").split("|").at(-1) ?? "";
    const citations: Citation[] = [];
    for (const m of cell.matchAll(/`(test\/[\w/.-]+\.test\.ts)`((?:\s*,?\s*"[^"]*")*)/g)) {
      for (const n of (m[2] ?? "").matchAll(/"([^"]*)"/g)) citations.push({ line: i + 1, file: m[1]!, name: n[1]! });
    }
    rows.push({ line: i + 1, text, citations });
  });
  return rows;
}

/** What is wrong with the table against one run: each problem names its line, file and test. */
export function problems(rows: Row[], report: VitestReport, root: string): string[] {
  const results = new Map<string, { title: string; fullName: string; status: string }[]>();
  for (const f of report.testResults) results.set(relative(root, f.name), f.assertionResults);
  const out: string[] = [];
  for (const row of rows) {
    if (row.citations.length === 0) out.push(`line ${row.line}: names no test ("test/….test.ts" "test name"): ${row.text.slice(0, 100)}`);
    for (const c of row.citations) {
      const ran = results.get(c.file);
      if (!ran) {
        out.push(`line ${c.line}: ${c.file} did not run in this test run`);
        continue;
      }
      const hit = ran.find((t) => t.title === c.name || t.fullName === c.name || t.fullName.endsWith(` ${c.name}`));
      if (!hit) out.push(`line ${c.line}: ${c.file} has no test named "${c.name}"`);
      else if (hit.status !== "passed") out.push(`line ${c.line}: ${c.file} "${c.name}" ${hit.status} in this run`);
    }
  }
  return out;
}

function main(): void {
  const root = join(import.meta.dirname, "../../..");
  const reportPath = process.argv[2] ?? join(root, ".test-run/vitest.json");
  const rows = parseRows(readFileSync(join(root, "docs/reliability.md"), "utf8"));
  const report = JSON.parse(readFileSync(reportPath, "utf8")) as VitestReport;
  const found = problems(rows, report, root);
  const cited = rows.reduce((n, r) => n + r.citations.length, 0);
  if (found.length > 0) {
    console.error(`docs/reliability.md does not match the test run (${reportPath}):\n  ${found.join("\n  ")}`);
    process.exit(1);
  }
  console.log(`docs/reliability.md: ${rows.length} rows cite ${cited} tests, each of which passed in this run`);
}

if (process.argv[1] && import.meta.filename === process.argv[1]) main();
