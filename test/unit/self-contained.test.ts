// The repository stands on its own: nothing in it points into design notes that a clone does not
// have, and every `docs/design.md#…` link in code, tests, the unit, the installer and the README
// names a heading that docs/design.md really has.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "../..");
const SCOPE = ["agent", "test", "systemd", "install.sh", "README.md", "docs", "examples"];

/**
 * References into notes outside the repository. Built from parts so that this file does not match
 * its own patterns.
 */
const FOREIGN = [["shared", "design"].join("/"), ["..", "shared"].join("/"), ["protocols", "md"].join("."), ["STYLE", "§"].join(" "), ["switch", "md"].join(".")];

/**
 * Section ids of those notes as comments cited them: "(protocols <letter><digit>)", a
 * parenthesised list of ids, or an id followed by a parenthesised topic.
 */
const SECTION_ID = /\((?:[A-D]\d+(?:[–-][A-D]?\d+)?(?:, *| and )?)+\)|[,;(] *[A-D]\d\)|\bprotocols\s+[A-D]\d|\b[A-D]\d(?:[–-][A-D]?\d)?(?: and [A-D]\d)? \(/;

/** Files under SCOPE that git tracks or would track; without git (an exported tarball), every file there. */
function scopeFiles(): string[] {
  try {
    const out = execFileSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", ...SCOPE], { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    const files = out.split("\0").filter((f) => f !== "");
    if (files.length > 0) return files;
  } catch {
    // not a git checkout
  }
  return SCOPE.flatMap((p) => walk(join(ROOT, p))).map((f) => relative(ROOT, f));
}

function walk(path: string): string[] {
  if (!existsSync(path)) return [];
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path)
    .filter((name) => name !== "node_modules" && name !== "dist")
    .flatMap((name) => walk(join(path, name)));
}

function readText(file: string): string | undefined {
  const full = join(ROOT, file);
  if (!existsSync(full)) return undefined; // deleted in the work tree, not yet in the index
  const buf = readFileSync(full);
  return buf.includes(0) ? undefined : buf.toString("utf8");
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** The anchors of a markdown file's headings, outside code fences. */
function anchors(markdown: string): string[] {
  const out: string[] = [];
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const m = fenced ? null : /^#{1,6}\s+(.+?)\s*#*\s*$/.exec(line);
    if (m) out.push(slug(m[1]!));
  }
  return out;
}

const files = scopeFiles();
const texts = new Map(files.flatMap((f) => {
  const t = readText(f);
  return t === undefined ? [] : [[f, t] as const];
}));
const designAnchors = anchors(texts.get("docs/design.md") ?? "");

describe("the repository stands on its own", () => {
  it("finds the files it checks, docs/design.md among them", () => {
    expect(texts.size).toBeGreaterThan(50);
    expect(designAnchors.length).toBeGreaterThan(20);
  });

  it("has no reference to design notes outside the repository", () => {
    const hits: string[] = [];
    for (const [file, text] of texts) {
      text.split("\n").forEach((line, i) => {
        for (const f of FOREIGN) if (line.includes(f)) hits.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(hits).toEqual([]);
  });

  it("cites no section ids of those notes", () => {
    const hits: string[] = [];
    for (const [file, text] of texts) {
      text.split("\n").forEach((line, i) => {
        if (SECTION_ID.test(line)) hits.push(`${file}:${i + 1}: ${line.trim()}`);
      });
    }
    expect(hits).toEqual([]);
  });

  it("gives every heading of docs/design.md its own anchor", () => {
    const seen = new Set<string>();
    const twice = designAnchors.filter((a) => (seen.has(a) ? true : (seen.add(a), false)));
    expect(twice).toEqual([]);
  });

  it("links only to headings that docs/design.md has", () => {
    const known = new Set(designAnchors);
    const broken: string[] = [];
    for (const [file, text] of texts) {
      text.split("\n").forEach((line, i) => {
        for (const m of line.matchAll(/docs\/design\.md#([\w-]+)/g)) {
          if (!known.has(m[1]!)) broken.push(`${file}:${i + 1}: #${m[1]}`);
        }
      });
    }
    expect(broken).toEqual([]);
  });

  it("links only to headings that exist between and within the files under docs/", () => {
    const docs = [...texts.keys()].filter((f) => f.startsWith("docs/") && f.endsWith(".md"));
    const broken: string[] = [];
    for (const file of docs) {
      for (const m of texts.get(file)!.matchAll(/\]\((?:([\w.-]+\.md))?#([\w-]+)\)/g)) {
        const target = m[1] === undefined ? file : `docs/${m[1]}`;
        if (!anchors(texts.get(target) ?? "").includes(m[2]!)) broken.push(`${file}: ${m[0]}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it("names in docs/reliability.md only test files that exist", () => {
    const named = [...(texts.get("docs/reliability.md") ?? "").matchAll(/test\/[\w/.-]+\.test\.ts/g)].map((m) => m[0]);
    expect(named.length).toBeGreaterThan(0);
    expect(named.filter((f) => !existsSync(join(ROOT, f)))).toEqual([]);
  });
});

describe("slug", () => {
  it("lower-cases, drops punctuation and turns spaces into hyphens, as GitHub does", () => {
    expect(slug("The agent's own probe")).toBe("the-agents-own-probe");
    expect(slug("Type=notify and `NotifyAccess`")).toBe("typenotify-and-notifyaccess");
    expect(slug("systemd and journald")).toBe("systemd-and-journald");
  });
});
