/**
 * What a preset knows, and whether an input lies outside it (docs/science.md, section 2). Two
 * records of preset.json, both written by the adapter trainer (models/training/ood.py):
 *
 * - `corpus`: the words of the captions the adapter was trained on and the most words one had.
 * - `epistemic`: per modality, a bank of training inputs (unit-length adapter inputs, float32) and
 *   reference quantiles of the score over held-out inputs. The score of an input is 1 − the mean
 *   cosine similarity to its k nearest bank entries: a density estimate under the training data,
 *   which α and β cannot give for inputs the adapter never saw (its aleatoric uncertainty there is
 *   an extrapolation, not a measurement).
 */
import { readFile } from "node:fs/promises";
import { EngineError } from "./errors";
import { percentileOf } from "./ggd";
import type { Modality } from "./adapter";
import type { CorpusRecord, EpistemicRecord } from "./preset";
import { clipWords } from "./tokenizer";

/** A piece with a letter or digit: punctuation ("!", ",") is no word a caption can be outside the corpus by. */
function isWord(piece: string): boolean {
  return /[\p{L}\p{N}]/u.test(piece);
}

export interface VocabularyCheck {
  /** Words of the caption that no training caption contained, in order of first appearance. */
  readonly unknownWords: string[];
  readonly words: number;
  /** The most words any training caption had. */
  readonly corpusMaxWords: number;
}

export function checkVocabulary(text: string, corpus: CorpusRecord, known: ReadonlySet<string>): VocabularyCheck {
  const words = clipWords(text).filter(isWord);
  const unknownWords = [...new Set(words.filter((word) => !known.has(word)))];
  return { unknownWords, words: words.length, corpusMaxWords: corpus.maxWords };
}

/** A modality's bank of unit-length training inputs, row-major [count, dim]. */
export interface EpistemicBank {
  readonly record: EpistemicRecord;
  readonly dim: number;
  readonly vectors: Float32Array;
}

/** Reads a bank whose sha256 the caller has verified; its size must be count × dim float32 values. */
export async function readBank(file: string, record: EpistemicRecord, dim: number): Promise<EpistemicBank> {
  const bytes = await readFile(file);
  const expected = record.count * dim * 4;
  if (bytes.length !== expected) {
    throw new EngineError("invalid_preset", `epistemic bank ${file} has ${bytes.length} bytes; count ${record.count} × dim ${dim} float32 needs ${expected}`);
  }
  const vectors = new Float32Array(record.count * dim);
  for (let i = 0; i < vectors.length; i++) vectors[i] = bytes.readFloatLE(4 * i);
  return { record, dim, vectors };
}

export interface EpistemicScore {
  /** 1 − mean cosine similarity to the k nearest training inputs: 0 on a training input, up to 2. */
  readonly score: number;
  /** Percentile (0–100) among held-out in-distribution inputs of the same modality. */
  readonly percentile: number;
  /** True when the score exceeds the flagQuantile of held-out inputs' scores. */
  readonly aboveReference: boolean;
}

export function epistemicScore(input: ArrayLike<number>, bank: EpistemicBank): EpistemicScore {
  const { dim, vectors, record } = bank;
  if (input.length !== dim) throw new EngineError("invalid_preset", `epistemic bank has dimension ${dim}, the input ${input.length}`);
  let length = 0;
  for (let j = 0; j < dim; j++) length += input[j] * input[j];
  length = Math.sqrt(length);
  if (!(length > 0)) throw new EngineError("invalid_input", "the embedding is the zero vector; it has no direction to compare");
  const k = Math.min(record.neighbours, record.count);
  // The k largest similarities, kept sorted ascending in a small array (k is about 8).
  const best = new Float64Array(k).fill(Number.NEGATIVE_INFINITY);
  for (let row = 0; row < record.count; row++) {
    let dot = 0;
    const offset = row * dim;
    for (let j = 0; j < dim; j++) dot += input[j] * vectors[offset + j];
    const similarity = dot / length;
    if (similarity <= best[0]) continue;
    let at = 0;
    while (at + 1 < k && best[at + 1] < similarity) {
      best[at] = best[at + 1];
      at++;
    }
    best[at] = similarity;
  }
  // float32 rounding can put an input's cosine to its own bank entry a hair above 1 (k = 1 for captions): 0 is the floor.
  const score = Math.max(0, 1 - best.reduce((sum, v) => sum + v, 0) / k);
  const flagAt = record.quantiles[Math.round(record.flagQuantile * (record.quantiles.length - 1))];
  return { score, percentile: percentileOf(score, record.quantiles), aboveReference: score > flagAt };
}

export interface OutOfDistribution {
  readonly flagged: boolean;
  /** One sentence per reason, for the page and the CLI. */
  readonly reasons: string[];
  readonly unknownWords: string[];
}

const quoteList = (words: readonly string[], limit = 8) =>
  words.slice(0, limit).map((w) => `“${w}”`).join(", ") + (words.length > limit ? ` and ${words.length - limit} more` : "");

/** Gathers the signals into a verdict with reasons a person can read. */
export function outOfDistribution(modality: Modality, vocabulary: VocabularyCheck | null, epistemic: EpistemicScore | null, flagQuantile: number | null): OutOfDistribution {
  const reasons: string[] = [];
  if (vocabulary && vocabulary.unknownWords.length > 0) {
    const n = vocabulary.unknownWords.length;
    reasons.push(`${n === 1 ? "1 word" : `${n} words`} the preset's caption corpus never contained: ${quoteList(vocabulary.unknownWords)}.`);
  }
  if (vocabulary && vocabulary.words > vocabulary.corpusMaxWords) {
    reasons.push(`${vocabulary.words} words, longer than any caption the preset was trained on (at most ${vocabulary.corpusMaxWords}).`);
  }
  if (epistemic?.aboveReference && flagQuantile !== null) {
    const what = modality === "text" ? "captions" : "images";
    reasons.push(
      `Its embedding lies farther from the training ${what} than ${Math.round(flagQuantile * 100)}% of held-out ${what} do (epistemic score ${epistemic.score.toPrecision(3)}, percentile ${Math.round(epistemic.percentile)}).`,
    );
  }
  return { flagged: reasons.length > 0, reasons, unknownWords: vocabulary?.unknownWords ?? [] };
}
