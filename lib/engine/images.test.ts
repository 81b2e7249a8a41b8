import sharp from "sharp";
import * as zlib from "node:zlib";
import { describe, expect, it } from "vitest";
import { EngineError } from "./errors";
import {
  composeGrid,
  encodeImage,
  type GridCellImage,
  type GridOptions,
  gridLayout,
  readPngText,
  type RgbImage,
  withPngText,
} from "./images";

// A deterministic pattern where neighbouring pixels differ, so any resampling blur or offset shows.
function pattern(width: number, height: number, salt: number): RgbImage {
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    rgb[3 * i] = (i * 37 + salt * 11) & 0xff;
    rgb[3 * i + 1] = (i * 91 + salt * 53) & 0xff;
    rgb[3 * i + 2] = (i * 13 + salt * 197) & 0xff;
  }
  return { rgb, width, height };
}

async function decodeRaw(file: Buffer): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** An independent chunk walk for the tests: [type, data, storedCrc, crcOverTypeAndData] per chunk. */
function walkChunks(png: Buffer) {
  const chunks: { type: string; data: Buffer; stored: number; computed: number }[] = [];
  for (let offset = 8; offset < png.length; ) {
    const length = png.readUInt32BE(offset);
    const type = png.toString("ascii", offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    chunks.push({
      type,
      data,
      stored: png.readUInt32BE(offset + 8 + length),
      computed: zlib.crc32(png.subarray(offset + 4, offset + 8 + length)),
    });
    offset += 12 + length;
  }
  return chunks;
}

async function expectEngineError(promise: Promise<unknown> | (() => unknown), pattern: RegExp) {
  const run = typeof promise === "function" ? Promise.resolve().then(promise) : promise;
  const error = await run.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EngineError);
  expect((error as EngineError).code).toBe("invalid_input");
  expect((error as EngineError).message).toMatch(pattern);
}

describe("encodeImage", () => {
  it.each(["png", "webp"] as const)("writes %s that decodes to the same pixels", async (format) => {
    const image = pattern(7, 5, 1);
    const file = await encodeImage(image, format);
    const metadata = await sharp(file).metadata();
    expect(metadata.format).toBe(format);
    const decoded = await decodeRaw(file);
    expect([decoded.width, decoded.height]).toEqual([7, 5]);
    expect(new Uint8Array(decoded.data)).toEqual(image.rgb);
  });

  it("accepts a view into a larger buffer", async () => {
    const backing = new Uint8Array(4 * 4 * 3 + 10).fill(200);
    const view = backing.subarray(5, 5 + 4 * 4 * 3);
    const decoded = await decodeRaw(await encodeImage({ rgb: view, width: 4, height: 4 }, "png"));
    expect(new Uint8Array(decoded.data)).toEqual(view);
  });

  it("rejects a buffer of the wrong length", async () => {
    await expectEngineError(encodeImage({ rgb: new Uint8Array(10), width: 2, height: 2 }, "png"), /expected 12 bytes/);
  });
});

describe("PNG text chunks", () => {
  const entries = {
    "penumbra:run": JSON.stringify({ seed: 7, request: { caption: "a red shape" } }),
    Comment: "plain ascii\nwith a newline",
    caption: "λ-Ausdruck: ein grünes Dreieck 🔺",
  };

  it("round-trips ASCII as tEXt and UTF-8 as iTXt, with valid CRCs, before the image data", async () => {
    const image = pattern(6, 4, 2);
    const png = await encodeImage(image, "png");
    const tagged = withPngText(png, entries);

    expect(readPngText(tagged)).toEqual(entries);
    const chunks = walkChunks(tagged);
    for (const chunk of chunks) expect(chunk.stored, chunk.type).toBe(chunk.computed);
    const kinds = chunks.filter((c) => ["tEXt", "iTXt", "zTXt"].includes(c.type));
    expect(kinds.map((c) => [c.type, c.data.toString("latin1", 0, c.data.indexOf(0))])).toEqual([
      ["tEXt", "penumbra:run"],
      ["tEXt", "Comment"],
      ["iTXt", "caption"],
    ]);
    const types = chunks.map((c) => c.type);
    expect(types[0]).toBe("IHDR");
    expect(types.at(-1)).toBe("IEND");
    expect(types.lastIndexOf("iTXt")).toBeLessThan(types.indexOf("IDAT"));

    const decoded = await decodeRaw(tagged);
    expect(new Uint8Array(decoded.data)).toEqual(image.rgb);
  });

  it("is readable by libvips too", async () => {
    const tagged = withPngText(await encodeImage(pattern(3, 3, 0), "png"), entries);
    const { comments } = await sharp(tagged).metadata();
    expect(Object.fromEntries((comments ?? []).map((c) => [c.keyword, c.text]))).toEqual(entries);
  });

  it("replaces earlier chunks with the same keyword and keeps the others", async () => {
    const once = withPngText(await encodeImage(pattern(3, 3, 0), "png"), { a: "1", b: "2" });
    const twice = withPngText(once, { a: "ü" });
    expect(readPngText(twice)).toEqual({ b: "2", a: "ü" });
    expect(walkChunks(twice).filter((c) => c.type === "tEXt" || c.type === "iTXt")).toHaveLength(2);
  });

  it("reads compressed text written by other tools", async () => {
    const png = await encodeImage(pattern(2, 2, 0), "png");
    const chunk = (type: string, data: Buffer) => {
      const head = Buffer.alloc(8);
      head.writeUInt32BE(data.length, 0);
      head.write(type, 4, "latin1");
      const crc = Buffer.alloc(4);
      crc.writeUInt32BE(zlib.crc32(Buffer.concat([head.subarray(4), data])));
      return Buffer.concat([head, data, crc]);
    };
    const zText = chunk("zTXt", Buffer.concat([Buffer.from("z\0\0", "latin1"), zlib.deflateSync("zipped text")]));
    const iText = chunk(
      "iTXt",
      Buffer.concat([Buffer.from("i\0\x01\0de\0Schlüssel\0", "utf8"), zlib.deflateSync(Buffer.from("größer", "utf8"))]),
    );
    const iend = png.length - 12;
    const file = Buffer.concat([png.subarray(0, iend), zText, iText, png.subarray(iend)]);
    expect(readPngText(file)).toEqual({ z: "zipped text", i: "größer" });
  });

  it("rejects a corrupted chunk, a non-PNG and bad keywords", async () => {
    const tagged = withPngText(await encodeImage(pattern(3, 3, 0), "png"), { key: "value" });
    const broken = Buffer.from(tagged);
    broken[broken.indexOf("value") + 1] ^= 0x20;
    await expectEngineError(() => readPngText(broken), /CRC mismatch in tEXt chunk/);
    await expectEngineError(() => readPngText(Buffer.from("GIF89a")), /bad signature/);
    await expectEngineError(() => readPngText(tagged.subarray(0, tagged.length - 6)), /runs past the end|truncated/);
    for (const keyword of ["", " lead", "trail ", "two  spaces", "k".repeat(80), "ключ"]) {
      await expectEngineError(() => withPngText(tagged, { [keyword]: "x" }), /keyword/);
    }
    await expectEngineError(() => withPngText(tagged, { key: "a\0b" }), /NUL/);
  });
});

describe("composeGrid", () => {
  const options = (rows: number, cols: number, extra: Partial<GridOptions> = {}): GridOptions => ({
    rows,
    cols,
    rowLabels: Array.from({ length: rows }, (_, r) => `λ = ${r / 2}  q ≈ 0.${r}2`),
    colLabels: Array.from({ length: cols }, (_, c) => `col ${c}`),
    ...extra,
  });
  const cellsFor = (rows: number, cols: number, size: number): GridCellImage[] =>
    Array.from({ length: rows * cols }, (_, i) => ({ row: Math.floor(i / cols), col: i % cols, ...pattern(size, size, i) }));

  it("places every cell, upscaled nearest-neighbour, where the layout says, on an image of the layout's size", async () => {
    const [rows, cols, size] = [3, 2, 8];
    const opts = options(rows, cols, { title: "a red shape · seed 1", scale: 3 });
    const layout = gridLayout(opts, size, size);
    // Shuffled order must not matter.
    const cells = cellsFor(rows, cols, size).reverse();
    const { data, width, height } = await decodeRaw(await composeGrid(cells, opts));
    expect([width, height]).toEqual([layout.width, layout.height]);
    expect(layout.cellWidth).toBe(24);

    for (const cell of cells) {
      const left = layout.columnLefts[cell.col];
      const top = layout.rowTops[cell.row];
      for (let y = 0; y < layout.cellHeight; y++) {
        for (let x = 0; x < layout.cellWidth; x++) {
          const src = 3 * (Math.floor(y / 3) * size + Math.floor(x / 3));
          const dst = 3 * ((top + y) * width + left + x);
          if (data[dst] !== cell.rgb[src] || data[dst + 1] !== cell.rgb[src + 1] || data[dst + 2] !== cell.rgb[src + 2]) {
            throw new Error(`cell (${cell.row}, ${cell.col}) differs at (${x}, ${y})`);
          }
        }
      }
    }
  });

  it("lays out labels left of and above the cells, inside the image, without overlap", () => {
    const opts = options(5, 4, { title: "t" });
    const layout = gridLayout(opts, 64, 64);
    expect(layout.scale).toBe(2);
    expect(layout.cellWidth).toBe(128);
    expect(layout.rowLabelRight).toBeLessThan(layout.columnLefts[0]);
    // The longest row label fits left of its right edge at the monospace advance.
    expect(layout.rowLabelRight - 16 * 0.6 * layout.fontSize).toBeGreaterThanOrEqual(0);
    expect(layout.titleLines).toEqual(["t"]);
    expect(layout.titleBaselines[0]).toBeLessThan(layout.colLabelBaseline - layout.fontSize);
    expect(layout.colLabelBaseline).toBeLessThan(layout.rowTops[0]);
    for (let c = 1; c < 4; c++) expect(layout.columnLefts[c]).toBeGreaterThan(layout.columnLefts[c - 1] + layout.cellWidth);
    for (let r = 1; r < 5; r++) expect(layout.rowTops[r]).toBeGreaterThan(layout.rowTops[r - 1] + layout.cellHeight);
    expect(layout.columnLefts[3] + layout.cellWidth).toBeLessThan(layout.width);
    expect(layout.rowTops[4] + layout.cellHeight).toBeLessThan(layout.height);
  });

  it("makes room for longer row labels and a title, and scales big cells by 1", () => {
    const short = gridLayout(options(2, 2, { rowLabels: ["a", "b"] }), 64, 64);
    const long = gridLayout(options(2, 2, { rowLabels: ["a".repeat(30), "b"] }), 64, 64);
    expect(long.width).toBeGreaterThan(short.width);
    expect(long.columnLefts[0] - short.columnLefts[0]).toBe(long.width - short.width);
    const titled = gridLayout(options(2, 2, { rowLabels: ["a", "b"], title: "x" }), 64, 64);
    expect(titled.height).toBeGreaterThan(short.height);
    expect(gridLayout(options(1, 1), 768, 768).scale).toBe(1);
  });

  it("wraps a long title at spaces into at most two lines that fit the width", () => {
    const words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron";
    const fits = (layout: ReturnType<typeof gridLayout>) => {
      const maxChars = Math.floor((layout.width - 2 * layout.margin) / (0.6 * layout.fontSize));
      for (const line of layout.titleLines) expect([...line].length).toBeLessThanOrEqual(maxChars);
    };
    const two = gridLayout(options(1, 2, { title: words }), 64, 64);
    expect(two.titleLines).toHaveLength(2);
    expect(two.titleLines.join(" ")).toBe(words);
    fits(two);
    expect(two.titleBaselines[1] - two.titleBaselines[0]).toBeGreaterThanOrEqual(two.fontSize);
    expect(two.titleBaselines[1]).toBeLessThan(two.colLabelBaseline - two.fontSize);

    const cut = gridLayout(options(1, 1, { title: `${words} ${words} ${words}` }), 64, 64);
    expect(cut.titleLines).toHaveLength(2);
    expect(cut.titleLines[1].endsWith("…")).toBe(true);
    expect(cut.titleLines[0].startsWith("alpha beta")).toBe(true);
    fits(cut);

    const unbroken = gridLayout(options(1, 1, { title: "x".repeat(500) }), 64, 64);
    expect(unbroken.titleLines).toHaveLength(2);
    fits(unbroken);
    expect(gridLayout(options(1, 1), 64, 64).titleLines).toEqual([]);
  });

  it("composes a default-scale 64 px grid with non-ASCII and markup-like labels", async () => {
    const opts = options(2, 3, { title: `"<a & b>" ${"very long title ".repeat(20)}`, colLabels: ["<x>", "y & z", "a".repeat(50)] });
    const png = await composeGrid(cellsFor(2, 3, 64), opts);
    const layout = gridLayout(opts, 64, 64);
    const metadata = await sharp(png).metadata();
    expect([metadata.format, metadata.width, metadata.height]).toEqual(["png", layout.width, layout.height]);
  });

  it("rejects missing, duplicate, out-of-range and mis-sized cells and wrong label counts", async () => {
    const cells = cellsFor(2, 2, 4);
    await expectEngineError(composeGrid(cells.slice(1), options(2, 2)), /3 cells; a 2×2 grid needs 4/);
    await expectEngineError(composeGrid([...cells, cells[0]], options(2, 2)), /appears more than once/);
    await expectEngineError(composeGrid([...cells.slice(1), { ...cells[0], row: 2 }], options(2, 2)), /outside the 2×2 grid/);
    await expectEngineError(composeGrid([...cells.slice(1), { ...cells[0], ...pattern(5, 4, 0) }], options(2, 2)), /all cells must be 4×4/);
    await expectEngineError(composeGrid(cells, options(2, 2, { rowLabels: ["only one"] })), /2 row labels, got 1/);
    await expectEngineError(composeGrid(cells, options(2, 2, { scale: 1.5 })), /scale must be an integer/);
    await expectEngineError(composeGrid([], options(2, 2)), /no cells/);
    await expectEngineError(() => gridLayout(options(2, 2), 0, 4), /at least 1×1 pixels, got 0×4/);
  });
});
