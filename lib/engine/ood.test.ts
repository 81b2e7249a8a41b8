import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { checkVocabulary, epistemicScore, outOfDistribution, readBank } from "./ood";
import type { EpistemicRecord } from "./preset";

const corpus = { vocabulary: ["a", "red", "circle", "at", "the", "top", "left"], maxWords: 7, captions: 3 };
const known = new Set(corpus.vocabulary);

async function bankOf(rows: number[][], quantiles: number[] = [0, 0.05, 0.1], neighbours = 2) {
  const file = path.join(mkdtempSync(path.join(tmpdir(), "bank-")), "bank.f32");
  const buffer = Buffer.alloc(rows.length * rows[0].length * 4);
  rows.flat().forEach((v, i) => buffer.writeFloatLE(v, 4 * i));
  writeFileSync(file, buffer);
  const record: EpistemicRecord = { bank: { path: "bank.f32", sha256: "0".repeat(64) }, count: rows.length, neighbours, flagQuantile: 0.5, quantiles, referenceCount: 10 };
  return readBank(file, record, rows[0].length);
}

describe("checkVocabulary", () => {
  it("lists words the corpus never had, once each, ignoring case and punctuation", () => {
    const check = checkVocabulary("A red STAR, a star on the moon!", corpus, known);
    expect(check.unknownWords).toEqual(["star", "on", "moon"]);
    expect(check.words).toBe(8);
    expect(check.corpusMaxWords).toBe(7);
  });

  it("finds nothing unknown in a caption the corpus could have written", () => {
    expect(checkVocabulary("a red circle at the top left", corpus, known).unknownWords).toEqual([]);
  });
});

describe("epistemicScore", () => {
  it("is 1 − the mean cosine to the k nearest bank rows, whatever the input's length", async () => {
    const bank = await bankOf([[1, 0], [0, 1], [-1, 0]]);
    const onBank = epistemicScore([5, 0], bank);
    // nearest two: [1,0] (cos 1) and [0,1] (cos 0)
    expect(onBank.score).toBeCloseTo(0.5, 6);
    const between = epistemicScore([1, 1], bank);
    expect(between.score).toBeCloseTo(1 - Math.SQRT1_2, 6);
  });

  it("is never below 0, though a float32 bank row's cosine to the same input in float64 exceeds 1", async () => {
    // float32(0.6) and float32(0.8) both round up: their dot with (0.6, 0.8) is 1 + 2.4e-8.
    const bank = await bankOf([[0.6, 0.8], [-1, 0]], [0, 0.05, 0.1], 1);
    const own = epistemicScore([0.6, 0.8], bank);
    expect(own.score).toBe(0);
    expect(own.percentile).toBe(0);
  });

  it("ranks against held-out quantiles and flags past the flag quantile", async () => {
    const bank = await bankOf([[1, 0], [0.8, 0.6], [0, 1]], [0, 0.1, 0.2]);
    const near = epistemicScore([0.9, 0.3], bank);
    expect(near.aboveReference).toBe(false);
    const far = epistemicScore([-1, -1], bank);
    expect(far.percentile).toBe(100);
    expect(far.aboveReference).toBe(true);
  });

  it("refuses a bank file of the wrong size", async () => {
    const file = path.join(mkdtempSync(path.join(tmpdir(), "bank-")), "short.f32");
    writeFileSync(file, Buffer.alloc(12));
    const record: EpistemicRecord = { bank: { path: "short.f32", sha256: "0".repeat(64) }, count: 2, neighbours: 1, flagQuantile: 0.99, quantiles: [0, 1], referenceCount: 2 };
    await expect(readBank(file, record, 2)).rejects.toThrow(/12 bytes; count 2 × dim 2 float32 needs 16/);
  });
});

describe("outOfDistribution", () => {
  it("gives one sentence per reason and flags when there is any", () => {
    const verdict = outOfDistribution(
      "text",
      { unknownWords: ["star", "dog"], words: 40, corpusMaxWords: 12 },
      { score: 0.42, percentile: 100, aboveReference: true },
      0.99,
    );
    expect(verdict.flagged).toBe(true);
    expect(verdict.unknownWords).toEqual(["star", "dog"]);
    expect(verdict.reasons).toEqual([
      "2 words the preset's caption corpus never contained: “star”, “dog”.",
      "40 words, longer than any caption the preset was trained on (at most 12).",
      "Its embedding lies farther from the training captions than 99% of held-out captions do (epistemic score 0.420, percentile 100).",
    ]);
  });

  it("stays quiet for an input inside every signal, and without signals at all", () => {
    expect(outOfDistribution("text", { unknownWords: [], words: 5, corpusMaxWords: 12 }, { score: 0, percentile: 10, aboveReference: false }, 0.99)).toEqual({
      flagged: false,
      reasons: [],
      unknownWords: [],
    });
    expect(outOfDistribution("image", null, null, null).flagged).toBe(false);
  });
});
