import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EngineError } from "./errors";
import { ClipTokenizer, htmlUnescape, normalizeClipText } from "./tokenizer";

// The fixtures live beside the repository (repo root is two levels above lib/engine), not in it.
const FIXTURES = resolve(dirname(fileURLToPath(import.meta.url)), "../../../shared/fixtures/clip-tokenizer");
const MERGES_GZ = join(FIXTURES, "bpe_simple_vocab_16e6.txt.gz");
const REFERENCE_JSON = join(FIXTURES, "reference-ids.json");
const haveFixtures = existsSync(MERGES_GZ) && existsSync(REFERENCE_JSON);

interface ReferenceCase {
  text: string;
  bpe: number[];
  ids77: number[];
}
interface Reference {
  sot: number;
  eot: number;
  contextLength: number;
  cases: ReferenceCase[];
}
const reference: Reference | undefined = haveFixtures ? JSON.parse(readFileSync(REFERENCE_JSON, "utf8")) : undefined;

function padded(ids: number[], length: number, pad: number): number[] {
  return [...ids, ...Array<number>(length - ids.length).fill(pad)];
}

function expectEngineError(run: () => unknown, code: string, message?: RegExp): void {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(EngineError);
  expect((thrown as EngineError).code).toBe(code);
  if (message) expect((thrown as EngineError).message).toMatch(message);
}

/** The README's vocab, derived independently of the implementation: GPT-2 byte chars (printable first). */
function readmeVocab(merges: string[]): Record<string, number> {
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
  const printable = [...range(0x21, 0x7e), ...range(0xa1, 0xac), ...range(0xae, 0xff)];
  const shifted = range(0, 255).filter((b) => !printable.includes(b)).map((_, i) => 256 + i);
  const bytes = [...printable, ...shifted].map((cp) => String.fromCharCode(cp));
  const tokens = [...bytes, ...bytes.map((b) => `${b}</w>`), ...merges.map((m) => m.replace(" ", "")), "<|startoftext|>", "<|endoftext|>"];
  return Object.fromEntries(tokens.map((token, id) => [token, id]));
}

if (!haveFixtures) {
  describe("ClipTokenizer reference ids", () => {
    it.skip(`needs the CLIP fixtures at ${FIXTURES} (absent here)`, () => {});
  });
}

describe.skipIf(!haveFixtures)("ClipTokenizer against the reference ids", () => {
  const { sot, eot, contextLength, cases } = reference ?? { sot: 0, eot: 0, contextLength: 0, cases: [] };
  let openai: ClipTokenizer;
  let hfLayout: ClipTokenizer;
  let dir: string;

  beforeAll(() => {
    openai = ClipTokenizer.fromOpenAiMergesFile(MERGES_GZ, { pad: 0 });
    // The same tables in the Hugging Face layout a preset ships, padded with eos as HF's CLIP does.
    const merges = gunzipSync(readFileSync(MERGES_GZ)).toString("utf8").split("\n").slice(1, 49152 - 256 - 2 + 1);
    dir = mkdtempSync(join(tmpdir(), "penumbra-clip-"));
    writeFileSync(join(dir, "vocab.json"), JSON.stringify(readmeVocab(merges)));
    writeFileSync(join(dir, "merges.txt"), `#version: 0.2\n${merges.join("\n")}\n`);
    hfLayout = ClipTokenizer.fromFiles(join(dir, "vocab.json"), join(dir, "merges.txt"), { pad: eot });
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("takes bos/eos/contextLength from the vocab and defaults", () => {
    expect([openai.bos, openai.eos, openai.pad, openai.contextLength]).toEqual([sot, eot, 0, contextLength]);
    expect([hfLayout.bos, hfLayout.eos, hfLayout.pad]).toEqual([sot, eot, eot]);
  });

  for (const [i, c] of cases.entries()) {
    it(`case ${i}: ${JSON.stringify(c.text).slice(0, 60)}`, () => {
      expect(openai.encode(c.text)).toEqual(c.bpe);
      expect(Array.from(openai.encodeForModel(c.text))).toEqual(padded(c.ids77, contextLength, 0));
      expect(hfLayout.encode(c.text)).toEqual(c.bpe);
      expect(Array.from(hfLayout.encodeForModel(c.text))).toEqual(padded(c.ids77, contextLength, eot));
    });
  }

  it("encodeBatch lays rows out like encodeForModel and reports unpadded lengths", () => {
    const texts = cases.map((c) => c.text);
    const { ids, lengths } = openai.encodeBatch(texts);
    expect(ids).toBeInstanceOf(Int32Array);
    expect(ids.length).toBe(texts.length * contextLength);
    expect(lengths).toEqual(cases.map((c) => c.ids77.length));
    texts.forEach((text, row) => {
      expect(ids.subarray(row * contextLength, (row + 1) * contextLength)).toEqual(openai.encodeForModel(text));
    });
  });

  it("truncates a very long text to contextLength with eos last", () => {
    const text = "a red cube next to a blue sphere, ".repeat(40);
    const bpe = openai.encode(text);
    expect(bpe.length).toBeGreaterThan(200);
    const row = openai.encodeForModel(text);
    expect(row.length).toBe(contextLength);
    expect(Array.from(row)).toEqual([sot, ...bpe.slice(0, contextLength - 2), eot]);
    expect(openai.encodeBatch([text]).lengths).toEqual([contextLength]);
  });

  it("decodes html entities (twice) and collapses whitespace before BPE", () => {
    expect(openai.encode("a cat &amp;amp; a&nbsp;dog")).toEqual(openai.encode("a cat & a dog"));
    expect(openai.encode("  A\tCat\n\n\u3000ON  the mat ")).toEqual(openai.encode("a cat on the mat"));
  });

  // Expected ids computed with the reference simple_tokenizer pipeline (Python `regex`, IGNORECASE).
  it("reproduces the reference's edge cases", () => {
    expect(openai.encode("<|startoftext|>a<|endoftext|>")).toEqual([sot, 320, eot]);
    expect(openai.encode("<|STARTOFTEXT|>")).toEqual([sot]);
    expect(openai.encode("IT'S")).toEqual([585, 568]);
    expect(openai.encode("it'ſ ok")).toEqual([585, 6, 129, 379, 2481]);
    expect(openai.encode("<|ſtartoftext|> hi")).toEqual([27, 91, 129, 123, 2002, 6659, 18169, 91, 285, 1883]);
    expect(openai.encode("a\u0345b \u0345 x\u0345")).toEqual([320, 321, 343]);
    expect(openai.encode("\x1c a \x1c b \x1c")).toEqual([320, 472, 321]);
    expect(openai.encode("\ufeff a \ufeff")).toEqual([171, 119, 379, 320, 171, 119, 379]);
    expect(openai.encode("&#0;&#13;&#128;&#x9F;&#55296;&#1114112;&#65535;&#x1FFFE;&#127;&#11;")).toEqual([
      39802, 6309, 127, 379, 47356, 39802,
    ]);
  });
});

describe("htmlUnescape (Python html.unescape)", () => {
  it.each([
    ["a & b", "a & b"],
    ["&amp;&lt;&gt;&quot;&#39;&apos;", "&<>\"''"],
    ["&nbsp;", "\u00a0"],
    ["&copy &eacute;t&eacute; &hellip;", "© été …"],
    ["&#65;&#x42;&#X43;&#68", "ABCD"],
    ["&ampx &notit; &copyright", "&x ¬it; ©right"],
    ["&apos &hellip &unknown; &#; &#x;", "&apos &hellip &unknown; &#; &#x;"],
    ["&#0;&#13;&#128;&#x9f;", "\ufffd\r€Ÿ"],
    ["&#xD800;&#1114112;&#99999999999999999999999;", "\ufffd\ufffd\ufffd"],
    ["[&#1;&#11;&#127;&#xFDD0;&#xFFFF;&#x10FFFE;]", "[]"],
    ["&#x1F600;", "😀"],
  ])("%j → %j", (input, expected) => {
    expect(htmlUnescape(input)).toBe(expected);
  });
});

describe("normalizeClipText", () => {
  it("unescapes twice, strips, collapses Unicode whitespace and lowercases", () => {
    expect(normalizeClipText("&amp;lt;B&amp;gt;")).toBe("<b>");
    expect(normalizeClipText("  A\tCAT \n\n on\u3000a\u00a0&nbsp;MAT\u0085 ")).toBe("a cat on a mat");
  });

  it("follows Python's whitespace sets, not JavaScript's", () => {
    // str.strip() removes U+001C..U+001F but regex \s does not collapse them; U+FEFF is not space.
    expect(normalizeClipText("\x1ca\x1cb\x1c")).toBe("a\x1cb");
    expect(normalizeClipText("\ufeffa\ufeff")).toBe("\ufeffa\ufeff");
  });
});

describe("ClipTokenizer with a tiny vocab", () => {
  const vocab = {
    h: 0, i: 1, "h</w>": 2, "i</w>": 3, "hi</w>": 4, hi: 5, "#": 6, "#</w>": 7, "##</w>": 8,
    "<|startoftext|>": 9, "<|endoftext|>": 10,
  };
  const merges = ["h i</w>", "h i", "# #</w>"];
  const tiny = new ClipTokenizer({ merges, vocab, bos: 9, eos: 10, pad: 0, contextLength: 4 });

  it("applies merges by rank, with </w> on the last symbol", () => {
    expect(tiny.encode("hi")).toEqual([4]);
    expect(tiny.encode("HIH")).toEqual([5, 2]);
    expect(tiny.encode("##")).toEqual([8]);
    expect(tiny.encode(" ")).toEqual([]);
  });

  it("truncates and pads rows", () => {
    expect(Array.from(tiny.encodeForModel(""))).toEqual([9, 10, 0, 0]);
    expect(Array.from(tiny.encodeForModel("hi hi hi"))).toEqual([9, 4, 4, 10]);
    const batch = tiny.encodeBatch(["hi", "hi hi hi", ""]);
    expect(Array.from(batch.ids)).toEqual([9, 4, 10, 0, 9, 4, 4, 10, 9, 10, 0, 0]);
    expect(batch.lengths).toEqual([3, 4, 2]);
    expect(tiny.encodeBatch([])).toEqual({ ids: new Int32Array(0), lengths: [] });
  });

  it("round-trips through vocab.json + merges.txt, skipping only the leading # header", () => {
    const dir = mkdtempSync(join(tmpdir(), "penumbra-clip-tiny-"));
    try {
      writeFileSync(join(dir, "vocab.json"), JSON.stringify(vocab));
      writeFileSync(join(dir, "merges.txt"), `#version: 0.2\n${merges.join("\r\n")}\n\n`);
      const loaded = ClipTokenizer.fromFiles(join(dir, "vocab.json"), join(dir, "merges.txt"), { pad: 10, contextLength: 6 });
      expect([loaded.bos, loaded.eos, loaded.pad, loaded.contextLength]).toEqual([9, 10, 10, 6]);
      expect(loaded.encode("HIH ## hi")).toEqual([5, 2, 8, 4]);
      expect(Array.from(loaded.encodeForModel("hi"))).toEqual([9, 4, 10, 10, 10, 10]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("accepts a Map vocab", () => {
    const fromMap = new ClipTokenizer({ merges, vocab: new Map(Object.entries(vocab)), bos: 9, eos: 10, pad: 0, contextLength: 4 });
    expect(fromMap.encode("hih hi")).toEqual([5, 2, 4]);
  });

  it("throws on symbols missing from the vocab instead of dropping them", () => {
    expectEngineError(() => tiny.encode("hi!"), "invalid_preset", /"!<\/w>"/);
    expectEngineError(() => tiny.encodeForModel("x"), "invalid_preset", /"x<\/w>"/);
  });

  it("rejects non-string input", () => {
    const untyped = tiny as unknown as Record<string, (arg: unknown) => unknown>;
    expectEngineError(() => untyped.encode(42), "invalid_input", /text must be a string, got number/);
    expectEngineError(() => untyped.encodeForModel(null), "invalid_input", /got null/);
    expectEngineError(() => untyped.encodeBatch("hi"), "invalid_input", /array/);
    expectEngineError(() => untyped.encodeBatch(["hi", 3]), "invalid_input", /texts\[1\]/);
  });

  it("rejects bad configurations and files", () => {
    const config = { merges, vocab, bos: 9, eos: 10, pad: 0, contextLength: 4 };
    expectEngineError(() => new ClipTokenizer({ ...config, contextLength: 1 }), "invalid_preset");
    expectEngineError(() => new ClipTokenizer({ ...config, pad: -1 }), "invalid_preset");
    expectEngineError(() => new ClipTokenizer({ ...config, merges: ["h i", "hi"] }), "invalid_preset", /merge rank 1/);
    expectEngineError(() => new ClipTokenizer({ ...config, vocab: { h: 1.5 } }), "invalid_preset");
    const missing = join(tmpdir(), "penumbra-clip-missing", "vocab.json");
    expectEngineError(() => ClipTokenizer.fromFiles(missing, missing, { pad: 0 }), "not_found");
    expectEngineError(() => ClipTokenizer.fromOpenAiMergesFile(missing, { pad: 0 }), "not_found");
  });
});
