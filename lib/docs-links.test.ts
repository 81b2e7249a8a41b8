/**
 * A clone must be able to follow every citation: design docs cited by the code and the docs have to be
 * in the repository (docs/), relative markdown links must reach a file (and heading) that exists, and a
 * citation of a docs/ page's section must name one that page has.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const SCANNED_ROOTS = ["README.md", "docs", "models", "lib", "bin", "components", "app", "scripts", "e2e"];
const SCANNED_EXTENSIONS = new Set([".md", ".py", ".ts", ".tsx", ".mjs", ".js", ".sh"]);
/** Build output, dependencies and training scratch (gitignored), not committed sources. */
const SKIPPED_DIRS = new Set(["node_modules", ".next", ".data", ".work", "out", "coverage", "__pycache__", ".pytest_cache", "artifacts", "test-results"]);

function walk(relative: string): string[] {
  const absolute = path.join(ROOT, relative);
  if (!existsSync(absolute)) return [];
  if (!statSync(absolute).isDirectory()) return SCANNED_EXTENSIONS.has(path.extname(relative)) ? [relative] : [];
  return readdirSync(absolute)
    .filter((name) => !SKIPPED_DIRS.has(name) && !name.startsWith("."))
    .flatMap((name) => walk(path.join(relative, name)));
}

const files = SCANNED_ROOTS.flatMap(walk).sort();
const markdownFiles = files.filter((file) => file.endsWith(".md"));
const read = (file: string) => readFileSync(path.join(ROOT, file), "utf8");

/** The design docs kept beside the repository, which a clone lacks; docs/ has the repository's own. */
const OUTSIDE_DOCS = ["SCIENCE", "MODEL-CONTRACT", "SHAPES-NOTES", "ARCHITECTURE"];
// Built so that this file's own source matches neither pattern.
const OUTSIDE_CITATIONS: readonly { what: string; pattern: RegExp }[] = [
  { what: "a path to the design docs beside the repository", pattern: /\bshared\/design\b/g },
  { what: "a design doc that is not in the repository", pattern: new RegExp(`\\b(?:${OUTSIDE_DOCS.join("|")})\\.md\\b`, "g") },
];

function lineOf(text: string, index: number): number {
  return text.slice(0, index).split("\n").length;
}

/** Markdown without fenced code blocks, whose contents are not links; line numbers are kept. */
function withoutCodeFences(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, (block) => block.replace(/[^\n]/g, " "));
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

function headings(markdownFile: string): string[] {
  return [...withoutCodeFences(read(markdownFile)).matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)].map((m) => m[1]);
}

describe("documentation a clone can follow", () => {
  it("finds the files it scans", () => {
    expect(files).toContain("README.md");
    expect(files).toContain("docs/model-contract.md");
    expect(files).toContain("lib/engine/contract.ts");
    expect(files).toContain("models/training/contract.py");
  });

  it("cites no design doc outside the repository", () => {
    const problems: string[] = [];
    for (const file of files) {
      const text = read(file);
      for (const { what, pattern } of OUTSIDE_CITATIONS) {
        for (const match of text.matchAll(pattern)) problems.push(`${file}:${lineOf(text, match.index)}: ${what} (${match[0]}); cite docs/ instead`);
      }
    }
    expect(problems).toEqual([]);
  });

  it("links only to files and headings that exist", () => {
    const problems: string[] = [];
    for (const file of markdownFiles) {
      const text = withoutCodeFences(read(file));
      for (const match of text.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        const target = match[1];
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
        const [targetPath, anchor] = target.split("#", 2);
        const resolved = targetPath ? path.normalize(path.join(path.dirname(file), decodeURI(targetPath))) : file;
        const where = `${file}:${lineOf(text, match.index)}: ${target}`;
        if (resolved.startsWith("..") || path.isAbsolute(resolved) || !existsSync(path.join(ROOT, resolved))) {
          problems.push(`${where}: no such file in the repository`);
        } else if (anchor && resolved.endsWith(".md") && !headings(resolved).map(slug).includes(anchor)) {
          problems.push(`${where}: ${resolved} has no heading with anchor #${anchor}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it("cites sections of docs/ pages that those pages have", () => {
    const problems: string[] = [];
    // `docs/science.md, section 4`, `docs/science.md (section 7)`, `[presets.md, "Limits"](…)`,
    // `docs/model-contract.md, "The models"`; a citation may wrap over comment lines.
    // The page name and the section are apart (a comma or a space): a quote right after ".md" ends a string in code.
    const citation = /(?:docs\/)?([a-z][a-z-]*)\.md\]?(?:\([^)\s]*\))?(?:,\s*|\s+)\(?(?:sections?\s+(\d+)|"([^"()\n]{1,80})")/g;
    for (const file of files) {
      const text = read(file).replace(/\s*\n\s*(?:\*|\/\/|#)?\s*/g, " ");
      for (const match of text.matchAll(citation)) {
        const [cited, page, number, title] = match;
        const doc = `docs/${page}.md`;
        if (!existsSync(path.join(ROOT, doc))) continue; // a page elsewhere (REPORT.md), not a docs/ page
        const titles = headings(doc).map((h) => h.replace(/`/g, ""));
        const found = number
          ? titles.some((h) => h.startsWith(`${number}. `))
          : titles.some((h) => h.replace(/^\d+\.\s+/, "").startsWith(title.replace(/`/g, "")));
        if (!found) problems.push(`${file}: "${cited}" names a section that ${doc} does not have`);
      }
    }
    expect(problems).toEqual([]);
  });
});
