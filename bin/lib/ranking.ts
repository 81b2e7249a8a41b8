import { readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { type Engine, EngineError, type EngineInput } from "../../lib/engine/index";
import type { RankBy } from "./args";
import { fixed, significant } from "./table";

/*
 * bin/uncertainty.ts's work: gather inputs, describe each without decoding,
 * rank most uncertain first. A bad input is recorded with where it came
 * from and the rest carry on.
 */

/** One input to rank; `where` is what a person needs to find it again ("line 3", a file path). */
export interface RankingItem {
  readonly where: string;
  /** The caption's text or the image's path, as printed in the output. */
  readonly label: string;
  /** Absent when the input could not even be read; `error` says why. */
  readonly input?: EngineInput;
  readonly error?: string;
}

export interface Ranked {
  readonly rank: number;
  readonly where: string;
  readonly input: string;
  /** Aleatoric: the adapter's mean variance, its natural log (always finite) and its percentile. */
  readonly uncertainty: number;
  readonly logUncertainty: number;
  readonly percentile: number;
  /** Distance from the preset's training inputs and its percentile among held-out inputs; null without an epistemic record. */
  readonly epistemic: number | null;
  readonly epistemicPercentile: number | null;
  readonly outOfDistribution: boolean;
  readonly unknownWords: readonly string[];
  readonly reasons: readonly string[];
}

export interface Failed {
  readonly where: string;
  readonly input: string;
  readonly error: string;
}

export interface Ranking {
  readonly ranked: readonly Ranked[];
  readonly failed: readonly Failed[];
}

/** One caption per non-blank line, numbered as an editor numbers them. */
export function captionItems(text: string): RankingItem[] {
  // Editors on Windows save a byte-order mark that would otherwise start the first caption.
  return text
    .replace(/^\uFEFF/, "")
    .split("\n")
    .map((line, i) => ({ line: line.replace(/\r$/, ""), number: i + 1 }))
    .filter(({ line }) => line.trim() !== "")
    .map(({ line, number }) => ({ where: `line ${number}`, label: line, input: { kind: "caption", text: line } }));
}

/** The extensions the engine decodes (PNG, JPEG, WebP); other files in a folder are passed over. */
const IMAGE_EXTENSIONS = [".png", ".jpg", ".jpeg", ".webp"];

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Files stay as given, whatever their extension (the engine says if it cannot decode one);
 * folders contribute their image files, not recursively, sorted by name.
 */
export async function imageItems(paths: readonly string[]): Promise<RankingItem[]> {
  const files: string[] = [];
  const items: RankingItem[] = [];
  for (const given of paths) {
    try {
      if ((await stat(given)).isDirectory()) {
        const names = (await readdir(given)).filter((name) => IMAGE_EXTENSIONS.includes(path.extname(name).toLowerCase())).sort();
        if (names.length === 0) items.push({ where: given, label: given, error: `no ${IMAGE_EXTENSIONS.join("/")} files in this folder` });
        files.push(...names.map((name) => path.join(given, name)));
      } else {
        files.push(given);
      }
    } catch (error) {
      items.push({ where: given, label: given, error: `cannot read: ${reason(error)}` });
    }
  }
  for (const file of files) {
    try {
      items.push({ where: file, label: file, input: { kind: "image", bytes: await readFile(file) } });
    } catch (error) {
      items.push({ where: file, label: file, error: `cannot read: ${reason(error)}` });
    }
  }
  return items;
}

/**
 * Describes every item in turn. Inputs the engine refuses (invalid_input) become failures;
 * any other engine error (a broken model, a cancel) stops the whole ranking.
 */
export async function rankItems(engine: Pick<Engine, "describe">, items: readonly RankingItem[], rankBy: RankBy = "aleatoric"): Promise<Ranking> {
  const scored: Omit<Ranked, "rank">[] = [];
  const failed: Failed[] = [];
  for (const item of items) {
    if (!item.input) {
      failed.push({ where: item.where, input: item.label, error: item.error ?? "cannot read" });
      continue;
    }
    try {
      const { uncertainty, logUncertainty, percentile, epistemic, outOfDistribution } = await engine.describe(item.input);
      scored.push({
        where: item.where,
        input: item.label,
        uncertainty,
        logUncertainty,
        percentile,
        epistemic: epistemic?.score ?? null,
        epistemicPercentile: epistemic?.percentile ?? null,
        outOfDistribution: outOfDistribution.flagged,
        unknownWords: outOfDistribution.unknownWords,
        reasons: outOfDistribution.reasons,
      });
    } catch (error) {
      if (!(error instanceof EngineError) || error.code !== "invalid_input") throw error;
      failed.push({ where: item.where, input: item.label, error: error.message });
    }
  }
  // Array.prototype.sort is stable, so equal scores keep input order; logs order the aleatoric score even where it saturates.
  const score = (entry: Omit<Ranked, "rank">) => (rankBy === "aleatoric" ? entry.logUncertainty : (entry.epistemic ?? Number.NEGATIVE_INFINITY));
  const ranked = scored.sort((a, b) => score(b) - score(a)).map((entry, i) => ({ rank: i + 1, ...entry }));
  return { ranked, failed };
}

/** RFC 4180 quoting: a field with a comma, quote, line break or edge space is quoted, quotes doubled. */
export function csvField(value: string): string {
  return /[",\r\n]|^\s|\s$/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/**
 * rank,input,uncertainty,percentile,epistemic,epistemic_percentile,ood,unknown_words with CRLF line
 * ends, as RFC 4180 asks; a preset without an epistemic record leaves those two fields empty.
 */
export function formatCsv(ranking: Ranking): string {
  const lines = [["rank", "input", "uncertainty", "percentile", "epistemic", "epistemic_percentile", "ood", "unknown_words"]];
  for (const entry of ranking.ranked) {
    lines.push([
      String(entry.rank),
      entry.input,
      significant(entry.uncertainty, 6),
      fixed(entry.percentile, 1),
      entry.epistemic === null ? "" : significant(entry.epistemic, 6),
      entry.epistemicPercentile === null ? "" : fixed(entry.epistemicPercentile, 1),
      entry.outOfDistribution ? "1" : "0",
      entry.unknownWords.join(" "),
    ]);
  }
  return lines.map((fields) => fields.map(csvField).join(",")).join("\r\n") + "\r\n";
}

/** Full precision, with the failures and the preset that made the numbers. */
export function formatRankingJson(ranking: Ranking, preset: { readonly name: string; readonly digest: string }): string {
  return `${JSON.stringify({ preset, ranked: ranking.ranked, failed: ranking.failed }, null, 2)}\n`;
}

/** The stderr report: each failure with where it came from, then one summary line. */
export function formatFailures(ranking: Ranking, noun: "captions" | "images"): string {
  const total = ranking.ranked.length + ranking.failed.length;
  const lines = ranking.failed.map((failure) => `${failure.where}: ${failure.error}`);
  const summary =
    ranking.failed.length === 0
      ? `ranked ${total} ${noun}`
      : `ranked ${ranking.ranked.length} of ${total} ${noun}; ${ranking.failed.length} skipped (listed above)`;
  return [...lines, summary].join("\n") + "\n";
}
