/**
 * The CLIP byte-level BPE tokenizer, matching OpenAI CLIP's `simple_tokenizer` id for id.
 *
 * Pipeline (reference order): `html.unescape` twice, strip, collapse whitespace runs to one
 * space, lowercase, split with CLIP's regex, map each piece's UTF-8 bytes through GPT-2's
 * byte-to-unicode table, apply merges by rank with `</w>` on the last symbol, look ids up.
 * The reference also runs `ftfy.fix_text` first; that step is omitted (mojibake repair has no
 * faithful small equivalent), so text should arrive as well-formed Unicode. Lowercasing and
 * \p{L}/\p{N} use the runtime's Unicode tables, so only characters assigned after the
 * reference's Unicode version can tokenize differently.
 */
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { EngineError } from "./errors";

export interface ClipTokenizerConfig {
  /** "left right" pairs, highest priority (rank 0) first. */
  merges: readonly string[];
  vocab: ReadonlyMap<string, number> | Readonly<Record<string, number>>;
  bos: number;
  eos: number;
  pad: number;
  contextLength: number;
}

export interface ClipTokenizerFileOptions {
  /** Stable Diffusion 2.x pads with 0; Hugging Face's CLIP tokenizers pad with eos. */
  pad: number;
  /** Defaults to 77, CLIP's text context. */
  contextLength?: number;
  /** Default to the vocab ids of `<|startoftext|>` / `<|endoftext|>`. */
  bos?: number;
  eos?: number;
}

export interface EncodedBatch {
  /** Row-major B×contextLength ids. */
  ids: Int32Array;
  /** Per row, the ids before padding (bos + BPE + eos), so eos sits at `lengths[i] - 1`. */
  lengths: number[];
}

const START_OF_TEXT = "<|startoftext|>";
const END_OF_TEXT = "<|endoftext|>";
const END_OF_WORD = "</w>";
const DEFAULT_CONTEXT_LENGTH = 77;
/** The reference keeps merges file lines 2 .. 49152-256-2+1 (1-based), i.e. slice(1, 48895). */
const OPENAI_MERGES_END = 49152 - 256 - 2 + 1;
/** The reference cache is unbounded; clearing at this size keeps long-running servers flat. */
const BPE_CACHE_LIMIT = 20_000;
const INT32_MAX = 0x7fffffff;

// Python's `regex` module `\s` is the Unicode White_Space set (JS `\s` differs: it adds U+FEFF
// and lacks U+0085), and `str.strip()` additionally strips U+001C..U+001F.
const WHITE_SPACE = "\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const WHITE_SPACE_RUN = new RegExp(`[${WHITE_SPACE}]+`, "gu");
const PY_SPACE_CHAR = new RegExp(`^[${WHITE_SPACE}\\x1c-\\x1f]$`, "u");

// CLIP's split pattern. The reference compiles it with IGNORECASE, whose only effects on
// lowercased text are spelled out here rather than left to JS's different `i` semantics:
// "ſ" matches "s" (so "'ſ" is a contraction and "<|ſtartoftext|>" a single piece), and U+0345
// (which case-folds to a letter) matches no alternative, so it is dropped.
const TOKEN_PATTERN = new RegExp(
  `<\\|[sſ]tartoftext\\|>|<\\|endoftext\\|>|'[sſ]|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^${WHITE_SPACE}\\p{L}\\p{N}\\u0345]+`,
  "gu",
);

/** GPT-2's reversible byte → printable character table, indexed by byte. */
const BYTE_TO_CHAR: readonly string[] = (() => {
  const table: string[] = [];
  let shifted = 0;
  for (let b = 0; b < 256; b++) table.push(String.fromCharCode(isPrintableByte(b) ? b : 256 + shifted++));
  return table;
})();

function isPrintableByte(b: number): boolean {
  return (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
}

/** The reference vocab lists the byte characters printable bytes first, then the remapped ones. */
function byteCharsInVocabOrder(): string[] {
  const bytes = [...Array(256).keys()];
  return [...bytes.filter(isPrintableByte), ...bytes.filter((b) => !isPrintableByte(b))].map((b) => BYTE_TO_CHAR[b]);
}

// ---------------------------------------------------------------------------------------------
// html.unescape

// The legacy entities, which HTML (and Python) also decode without a trailing ";". The first
// 96 are ISO-8859-1 U+00A0..U+00FF in code point order.
const LATIN1_ENTITY_NAMES =
  "nbsp iexcl cent pound curren yen brvbar sect uml copy ordf laquo not shy reg macr deg plusmn sup2 sup3 " +
  "acute micro para middot cedil sup1 ordm raquo frac14 frac12 frac34 iquest Agrave Aacute Acirc Atilde Auml " +
  "Aring AElig Ccedil Egrave Eacute Ecirc Euml Igrave Iacute Icirc Iuml ETH Ntilde Ograve Oacute Ocirc Otilde " +
  "Ouml times Oslash Ugrave Uacute Ucirc Uuml Yacute THORN szlig agrave aacute acirc atilde auml aring aelig " +
  "ccedil egrave eacute ecirc euml igrave iacute icirc iuml eth ntilde ograve oacute ocirc otilde ouml divide " +
  "oslash ugrave uacute ucirc uuml yacute thorn yuml";
const LEGACY_ASCII_ENTITIES: Record<string, number> = {
  amp: 0x26, AMP: 0x26, lt: 0x3c, LT: 0x3c, gt: 0x3e, GT: 0x3e, quot: 0x22, QUOT: 0x22, COPY: 0xa9, REG: 0xae,
};
// Entities that need the ";": HTML 4's special and common symbol sets. Python knows all 2231
// HTML5 names; any name not listed here is left as written.
const SEMICOLON_ENTITIES: Record<string, number> = {
  apos: 0x27, OElig: 0x152, oelig: 0x153, Scaron: 0x160, scaron: 0x161, Yuml: 0x178, fnof: 0x192,
  circ: 0x2c6, tilde: 0x2dc, ensp: 0x2002, emsp: 0x2003, thinsp: 0x2009, zwnj: 0x200c, zwj: 0x200d,
  lrm: 0x200e, rlm: 0x200f, ndash: 0x2013, mdash: 0x2014, lsquo: 0x2018, rsquo: 0x2019, sbquo: 0x201a,
  ldquo: 0x201c, rdquo: 0x201d, bdquo: 0x201e, dagger: 0x2020, Dagger: 0x2021, bull: 0x2022,
  hellip: 0x2026, permil: 0x2030, prime: 0x2032, Prime: 0x2033, lsaquo: 0x2039, rsaquo: 0x203a,
  oline: 0x203e, frasl: 0x2044, euro: 0x20ac, trade: 0x2122, larr: 0x2190, uarr: 0x2191, rarr: 0x2192,
  darr: 0x2193, harr: 0x2194, minus: 0x2212, infin: 0x221e, ne: 0x2260, le: 0x2264, ge: 0x2265,
  spades: 0x2660, clubs: 0x2663, hearts: 0x2665, diams: 0x2666,
};

/** Keyed like Python's `html5` table: "name;" for every entity, bare "name" for legacy ones. */
const NAMED_ENTITIES: ReadonlyMap<string, string> = (() => {
  const table = new Map<string, string>();
  const legacy: [string, number][] = [
    ...LATIN1_ENTITY_NAMES.split(" ").map((name, i): [string, number] => [name, 0xa0 + i]),
    ...Object.entries(LEGACY_ASCII_ENTITIES),
  ];
  for (const [name, cp] of legacy) {
    table.set(name, String.fromCodePoint(cp));
    table.set(`${name};`, String.fromCodePoint(cp));
  }
  for (const [name, cp] of Object.entries(SEMICOLON_ENTITIES)) table.set(`${name};`, String.fromCodePoint(cp));
  return table;
})();

// Numeric references to C1 controls mean their Windows-1252 characters (HTML5 rule); the five
// bytes 1252 leaves undefined stay themselves.
const CP1252_C1 = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];

/** Same alternatives and lengths as Python's `html._charref`; `u` so `{1,32}` counts code points. */
const CHARREF = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

function numericCharref(num: number): string {
  if (num === 0) return "\ufffd";
  if (num === 0x0d) return "\r";
  if (num >= 0x80 && num <= 0x9f) return String.fromCodePoint(CP1252_C1[num - 0x80]);
  if ((num >= 0xd800 && num <= 0xdfff) || num > 0x10ffff) return "\ufffd";
  // Python drops controls and noncharacters rather than emit them.
  const dropped =
    (num >= 0x01 && num <= 0x08) || num === 0x0b || (num >= 0x0e && num <= 0x1f) || num === 0x7f ||
    (num >= 0xfdd0 && num <= 0xfdef) || (num & 0xfffe) === 0xfffe;
  return dropped ? "" : String.fromCodePoint(num);
}

function replaceCharref(ref: string): string {
  if (ref[0] === "#") {
    const hex = ref[1] === "x" || ref[1] === "X";
    const digits = ref.slice(hex ? 2 : 1).replace(/;$/, "");
    return numericCharref(parseInt(digits, hex ? 16 : 10));
  }
  const exact = NAMED_ENTITIES.get(ref);
  if (exact !== undefined) return exact;
  // Like browsers and Python, "&notit;" decodes its longest legacy-entity prefix: "¬it;".
  for (let end = ref.length - 1; end > 1; end--) {
    const prefix = NAMED_ENTITIES.get(ref.slice(0, end));
    if (prefix !== undefined) return prefix + ref.slice(end);
  }
  return `&${ref}`;
}

/**
 * Python's `html.unescape`: numeric references (decimal and hex, with Python's replacements for
 * NUL, surrogates, C1 controls, out-of-range and noncharacter code points), named references
 * with the same longest-prefix rule, the legacy Latin-1 names with or without ";". Named
 * entities are the subset listed above (all the legacy ones plus HTML 4's specials and symbols);
 * another HTML5 name stays as written, or decodes only a legacy prefix ("&notin;" gives "¬in;"
 * where Python gives "∉").
 */
export function htmlUnescape(text: string): string {
  return text.includes("&") ? text.replace(CHARREF, (_match, ref: string) => replaceCharref(ref)) : text;
}

function pyStrip(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && PY_SPACE_CHAR.test(text[start])) start++;
  while (end > start && PY_SPACE_CHAR.test(text[end - 1])) end--;
  return text.slice(start, end);
}

/** The reference's text cleanup before splitting (minus ftfy): what the BPE actually sees. */
export function normalizeClipText(text: string): string {
  const cleaned = pyStrip(htmlUnescape(htmlUnescape(text)));
  return pyStrip(cleaned.replace(WHITE_SPACE_RUN, " ")).toLowerCase();
}

// ---------------------------------------------------------------------------------------------
// files and validation

function checkMerge(line: string, where: string): void {
  const space = line.indexOf(" ");
  if (space <= 0 || space === line.length - 1 || line.includes(" ", space + 1)) {
    throw new EngineError("invalid_preset", `${where}: expected a merge "left right", got ${JSON.stringify(line)}`);
  }
}

function readTokenizerFile(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    const missing = (cause as NodeJS.ErrnoException).code === "ENOENT";
    throw new EngineError(missing ? "not_found" : "invalid_preset", `cannot read tokenizer file ${path}`, { cause });
  }
}

/** Lines [1, end) of the gzipped text; decoding only that prefix keeps loading fast (the file has ~262k lines). */
function readGzipLines(path: string, end: number): string[] {
  let text: Buffer;
  try {
    text = gunzipSync(readTokenizerFile(path));
  } catch (cause) {
    if (cause instanceof EngineError) throw cause;
    throw new EngineError("invalid_preset", `tokenizer file ${path} is not valid gzip`, { cause });
  }
  let stop = -1;
  for (let line = 0; line < end; line++) {
    stop = text.indexOf(0x0a, stop + 1);
    if (stop < 0) {
      stop = text.length;
      break;
    }
  }
  return text.toString("utf8", 0, stop).split("\n").slice(1, end);
}

function checkId(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > INT32_MAX) {
    throw new EngineError("invalid_preset", `${what} must be an integer in [0, 2^31), got ${String(value)}`);
  }
  return value;
}

function specialId(vocab: ReadonlyMap<string, number>, given: number | undefined, token: string): number {
  const id = given ?? vocab.get(token);
  if (id === undefined) throw new EngineError("invalid_preset", `vocab has no ${token} and no id was given for it`);
  return id;
}

function describeValue(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}

// ---------------------------------------------------------------------------------------------

export class ClipTokenizer {
  readonly bos: number;
  readonly eos: number;
  readonly pad: number;
  readonly contextLength: number;
  private readonly vocab: ReadonlyMap<string, number>;
  /** Keyed "left right": byte-level symbols never contain a space (0x20 maps to "Ġ"). */
  private readonly ranks = new Map<string, number>();
  private readonly cache = new Map<string, readonly number[]>();
  private readonly utf8 = new TextEncoder();

  constructor(config: ClipTokenizerConfig) {
    this.bos = checkId(config.bos, "bos");
    this.eos = checkId(config.eos, "eos");
    this.pad = checkId(config.pad, "pad");
    if (!Number.isInteger(config.contextLength) || config.contextLength < 2) {
      throw new EngineError("invalid_preset", `contextLength must be an integer >= 2, got ${config.contextLength}`);
    }
    this.contextLength = config.contextLength;
    const entries = config.vocab instanceof Map ? config.vocab.entries() : Object.entries(config.vocab);
    const vocab = new Map<string, number>();
    for (const [token, id] of entries) vocab.set(token, checkId(id, `vocab id of ${JSON.stringify(token)}`));
    this.vocab = vocab;
    // Later duplicates win, as in the reference's dict(zip(merges, range(...))).
    config.merges.forEach((line, rank) => {
      checkMerge(line, `merge rank ${rank}`);
      this.ranks.set(line, rank);
    });
  }

  /** OpenAI's `bpe_simple_vocab_16e6.txt.gz`; the vocab is derived from the merges as the reference does. */
  static fromOpenAiMergesFile(gzPath: string, opts: ClipTokenizerFileOptions): ClipTokenizer {
    const merges = readGzipLines(gzPath, OPENAI_MERGES_END);
    if (merges.length !== OPENAI_MERGES_END - 1) {
      throw new EngineError("invalid_preset", `${gzPath}: expected ${OPENAI_MERGES_END - 1} merges, found ${merges.length}`);
    }
    const byteChars = byteCharsInVocabOrder();
    const tokens = [
      ...byteChars,
      ...byteChars.map((c) => c + END_OF_WORD),
      // Malformed lines are rejected by the constructor.
      ...merges.map((line) => line.replace(" ", "")),
      START_OF_TEXT,
      END_OF_TEXT,
    ];
    // Ids are positions; a repeated token keeps its last position, as the reference's dict does.
    const vocab = new Map<string, number>();
    tokens.forEach((token, id) => vocab.set(token, id));
    return ClipTokenizer.withFileOptions(merges, vocab, opts);
  }

  /** Hugging Face layout: vocab.json (token → id) and merges.txt ("left right" per line, rank order). */
  static fromFiles(vocabJsonPath: string, mergesTxtPath: string, opts: ClipTokenizerFileOptions): ClipTokenizer {
    let parsed: unknown;
    try {
      parsed = JSON.parse(readTokenizerFile(vocabJsonPath).toString("utf8"));
    } catch (cause) {
      if (cause instanceof EngineError) throw cause;
      throw new EngineError("invalid_preset", `${vocabJsonPath} is not valid JSON`, { cause });
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new EngineError("invalid_preset", `${vocabJsonPath}: expected an object of token → id, got ${describeValue(parsed)}`);
    }
    const vocab = new Map(Object.entries(parsed as Record<string, unknown>).map(([t, id]) => [t, checkId(id, `${vocabJsonPath} id of ${JSON.stringify(t)}`)]));

    const lines = readTokenizerFile(mergesTxtPath).toString("utf8").split(/\r?\n/);
    // A "#version" header is only skipped at the top: "#" is also a symbol, so "# #" is a real merge.
    let first = 0;
    while (first < lines.length && lines[first].startsWith("#")) first++;
    let end = lines.length;
    while (end > first && lines[end - 1] === "") end--;
    return ClipTokenizer.withFileOptions(lines.slice(first, end), vocab, opts);
  }

  private static withFileOptions(merges: string[], vocab: Map<string, number>, opts: ClipTokenizerFileOptions): ClipTokenizer {
    return new ClipTokenizer({
      merges,
      vocab,
      bos: specialId(vocab, opts.bos, START_OF_TEXT),
      eos: specialId(vocab, opts.eos, END_OF_TEXT),
      pad: opts.pad,
      contextLength: opts.contextLength ?? DEFAULT_CONTEXT_LENGTH,
    });
  }

  /**
   * BPE ids without bos/eos. As in the reference, a literal "<|startoftext|>" or "<|endoftext|>"
   * in the text becomes that special token's id. Throws `invalid_input` for a non-string and
   * `invalid_preset` when a BPE symbol is missing from the vocab (a full byte-level vocab never is).
   */
  encode(text: string): number[] {
    const ids: number[] = [];
    this.appendIds(ClipTokenizer.checkText(text, "text"), ids, Infinity);
    return ids;
  }

  /** [bos, ...bpe, eos] cut so eos stays last within contextLength, then padded with `pad`. */
  encodeForModel(text: string): Int32Array {
    const row = new Int32Array(this.contextLength).fill(this.pad);
    this.writeRow(ClipTokenizer.checkText(text, "text"), row, 0);
    return row;
  }

  encodeBatch(texts: readonly string[]): EncodedBatch {
    if (!Array.isArray(texts)) {
      throw new EngineError("invalid_input", `texts must be an array of strings, got ${describeValue(texts)}`);
    }
    texts.forEach((text, i) => ClipTokenizer.checkText(text, `texts[${i}]`));
    const ids = new Int32Array(texts.length * this.contextLength).fill(this.pad);
    const lengths = texts.map((text, i) => this.writeRow(text, ids, i * this.contextLength));
    return { ids, lengths };
  }

  private static checkText(text: unknown, what: string): string {
    if (typeof text !== "string") throw new EngineError("invalid_input", `${what} must be a string, got ${describeValue(text)}`);
    return text;
  }

  /** Writes one model row at `offset` (already pad-filled) and returns its unpadded length. */
  private writeRow(text: string, target: Int32Array, offset: number): number {
    // Only the first contextLength-2 BPE ids can survive truncation, so stop tokenizing there
    // (text past that point is neither tokenized nor checked against the vocab).
    const keep = this.contextLength - 2;
    const bpe: number[] = [];
    this.appendIds(text, bpe, keep);
    const n = Math.min(bpe.length, keep);
    target[offset] = this.bos;
    for (let i = 0; i < n; i++) target[offset + 1 + i] = bpe[i];
    target[offset + 1 + n] = this.eos;
    return n + 2;
  }

  private appendIds(text: string, out: number[], limit: number): void {
    for (const match of normalizeClipText(text).matchAll(TOKEN_PATTERN)) {
      if (out.length >= limit) return;
      for (const id of this.tokenIds(match[0])) out.push(id);
    }
  }

  private tokenIds(token: string): readonly number[] {
    const cached = this.cache.get(token);
    if (cached !== undefined) return cached;
    const symbols = token === START_OF_TEXT || token === END_OF_TEXT ? [token] : this.bpe(token);
    const ids = symbols.map((symbol) => {
      const id = this.vocab.get(symbol);
      if (id === undefined) {
        throw new EngineError(
          "invalid_preset",
          `tokenizer vocab has no entry for BPE symbol ${JSON.stringify(symbol)} (from ${JSON.stringify(token)})`,
        );
      }
      return id;
    });
    if (this.cache.size >= BPE_CACHE_LIMIT) this.cache.clear();
    this.cache.set(token, ids);
    return ids;
  }

  /** Byte-level symbols for one pre-split piece, merging the lowest-ranked adjacent pair until none applies. */
  private bpe(token: string): string[] {
    let symbols = Array.from(this.utf8.encode(token), (b) => BYTE_TO_CHAR[b]);
    symbols[symbols.length - 1] += END_OF_WORD;
    while (symbols.length > 1) {
      let best = Infinity;
      let bestAt = -1;
      for (let i = 0; i + 1 < symbols.length; i++) {
        const rank = this.ranks.get(`${symbols[i]} ${symbols[i + 1]}`);
        if (rank !== undefined && rank < best) {
          best = rank;
          bestAt = i;
        }
      }
      if (bestAt < 0) break;
      const left = symbols[bestAt];
      const right = symbols[bestAt + 1];
      // Every non-overlapping occurrence, left to right, as the reference does.
      const merged: string[] = [];
      for (let i = 0; i < symbols.length; ) {
        if (i + 1 < symbols.length && symbols[i] === left && symbols[i + 1] === right) {
          merged.push(left + right);
          i += 2;
        } else {
          merged.push(symbols[i++]);
        }
      }
      symbols = merged;
    }
    return symbols;
  }
}

/**
 * The pieces CLIP's tokenizer splits a caption into before byte-pair encoding, after its cleanup
 * (lower case, entities decoded, white space collapsed): the "words" a preset's corpus vocabulary
 * lists (models/training/ood.py splits its corpus the same way).
 */
export function clipWords(text: string): string[] {
  return normalizeClipText(text).match(TOKEN_PATTERN) ?? [];
}
