import sharp from "sharp";
import { inflateSync } from "node:zlib";
import { crc32 } from "./crc32";
import { EngineError } from "./errors";

/*
 * Decoded pixels → files: single images as PNG or WebP, labelled grids as
 * PNG, and PNG text chunks so a grid carries the run that made it.
 */

/** Interleaved 8-bit RGB, row-major, no padding: rgb.length = width · height · 3. */
export interface RgbImage {
  readonly rgb: Uint8Array;
  readonly width: number;
  readonly height: number;
}

export type OutputImageFormat = "png" | "webp";

function invalid(message: string): EngineError {
  return new EngineError("invalid_input", message);
}

function checkRgb(image: RgbImage, what: string): void {
  const { width, height, rgb } = image;
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw invalid(`${what}: width and height must be positive integers, got ${width}×${height}`);
  }
  if (rgb.length !== width * height * 3) {
    throw invalid(`${what}: expected ${width * height * 3} bytes of RGB for ${width}×${height}, got ${rgb.length}`);
  }
}

function rawInput(image: RgbImage) {
  return sharp(Buffer.from(image.rgb.buffer, image.rgb.byteOffset, image.rgb.byteLength), {
    raw: { width: image.width, height: image.height, channels: 3 },
  });
}

/** Encodes one image. WebP is lossless: decoded cells are small and researchers compare pixels. */
export async function encodeImage(image: RgbImage, format: OutputImageFormat): Promise<Buffer> {
  checkRgb(image, "image");
  const pipeline = rawInput(image);
  return format === "png" ? pipeline.png().toBuffer() : pipeline.webp({ lossless: true }).toBuffer();
}

// ───────────────────────── labelled grid ─────────────────────────

export interface GridCellImage extends RgbImage {
  readonly row: number;
  readonly col: number;
}

export interface GridOptions {
  readonly rows: number;
  readonly cols: number;
  /** One per row, drawn left of the row, e.g. "λ = 0.5  q ≈ 0.42". */
  readonly rowLabels: readonly string[];
  /** One per column, drawn above it; shortened with "…" to the cell's width. */
  readonly colLabels: readonly string[];
  /** Above everything, wrapped at spaces to the grid's width in at most two lines, then shortened with "…". */
  readonly title?: string;
  /** Integer nearest-neighbour upscaling, 1–16; default: the smallest that makes a cell at least 128 px wide (at most 16). */
  readonly scale?: number;
}

/** Where everything sits in a composed grid, in output pixels. */
export interface GridLayout {
  readonly width: number;
  readonly height: number;
  readonly scale: number;
  readonly cellWidth: number;
  readonly cellHeight: number;
  readonly fontSize: number;
  /** Blank border around everything; the title starts this far from the left. */
  readonly margin: number;
  /** Left edge of each column's cells. */
  readonly columnLefts: readonly number[];
  /** Top edge of each row's cells. */
  readonly rowTops: readonly number[];
  /** Right edge of the row-label column (labels are right-aligned against it). */
  readonly rowLabelRight: number;
  /** Baseline of the column labels. */
  readonly colLabelBaseline: number;
  /** The title as drawn, one entry per line, and each line's baseline. */
  readonly titleLines: readonly string[];
  readonly titleBaselines: readonly number[];
}

const MIN_CELL_PX = 128;
const MAX_TITLE_LINES = 2;
const MAX_SCALE = 16;
// Text is drawn in the generic monospace family, so width can be estimated
// from the character count without measuring glyphs (DejaVu Sans Mono: 0.602 em).
const CHAR_EM = 0.62;
const LINE_EM = 1.4;

const charCount = (text: string) => [...text].length;

function fitText(text: string, maxChars: number): string {
  const chars = [...text];
  if (chars.length <= maxChars) return text;
  return maxChars < 1 ? "" : `${chars.slice(0, maxChars - 1).join("")}…`;
}

/** Greedy word wrap into at most `maxLines` lines of `maxChars`; what does not fit ends in "…". */
function wrapText(text: string, maxChars: number, maxLines: number): string[] {
  const lines: string[] = [];
  let rest = text.trim();
  while (rest !== "" && lines.length < maxLines - 1 && charCount(rest) > maxChars) {
    const head = [...rest].slice(0, maxChars + 1).join("");
    const cut = head.lastIndexOf(" ");
    // A word longer than the line is cut mid-word rather than overflowing.
    const end = cut > 0 ? cut : [...rest].slice(0, maxChars).join("").length;
    lines.push(rest.slice(0, end).trimEnd());
    rest = rest.slice(end).trimStart();
  }
  if (rest !== "") lines.push(fitText(rest, maxChars));
  return lines;
}

/** Computes the geometry `composeGrid` draws; cells must all be `cellWidth`×`cellHeight` before scaling. */
export function gridLayout(options: GridOptions, cellWidth: number, cellHeight: number): GridLayout {
  const { rows, cols, rowLabels, colLabels, title } = options;
  for (const [name, value] of [["rows", rows], ["cols", cols]] as const) {
    if (!Number.isSafeInteger(value) || value < 1) throw invalid(`grid ${name} must be an integer ≥ 1, got ${value}`);
  }
  if (rowLabels.length !== rows) throw invalid(`grid needs ${rows} row labels, got ${rowLabels.length}`);
  if (colLabels.length !== cols) throw invalid(`grid needs ${cols} column labels, got ${colLabels.length}`);
  if (!Number.isSafeInteger(cellWidth) || !Number.isSafeInteger(cellHeight) || cellWidth < 1 || cellHeight < 1) {
    throw invalid(`grid cells must be at least 1×1 pixels, got ${cellWidth}×${cellHeight}`);
  }
  const scale = options.scale ?? Math.min(MAX_SCALE, Math.max(1, Math.ceil(MIN_CELL_PX / cellWidth)));
  if (!Number.isSafeInteger(scale) || scale < 1 || scale > MAX_SCALE) {
    throw invalid(`grid scale must be an integer from 1 to ${MAX_SCALE}, got ${scale}`);
  }

  const cw = cellWidth * scale;
  const ch = cellHeight * scale;
  // Labels grow with the cells so big decoders' grids stay legible, within readable bounds.
  const fontSize = Math.min(28, Math.max(13, Math.round(cw / 9)));
  const charWidth = fontSize * CHAR_EM;
  const line = Math.ceil(fontSize * LINE_EM);
  const margin = Math.round(fontSize * 0.75);
  const gap = Math.max(2, Math.round(fontSize / 3));

  const labelChars = Math.max(0, ...rowLabels.map(charCount));
  const labelWidth = labelChars === 0 ? 0 : Math.ceil(labelChars * charWidth) + margin;
  const left = margin + labelWidth;
  const width = left + cols * cw + (cols - 1) * gap + margin;

  const titleLines = title ? wrapText(title, Math.floor((width - 2 * margin) / charWidth), MAX_TITLE_LINES) : [];
  const titleHeight = titleLines.length === 0 ? 0 : titleLines.length * line + Math.round(margin / 2);
  const top = margin + titleHeight + line;
  const height = top + rows * ch + (rows - 1) * gap + margin;
  // Baselines sit about 0.3 em above the bottom of their line box, leaving room for descenders.
  const baselineInset = Math.round(fontSize * 0.3);
  return {
    width,
    height,
    scale,
    cellWidth: cw,
    cellHeight: ch,
    fontSize,
    margin,
    columnLefts: Array.from({ length: cols }, (_, c) => left + c * (cw + gap)),
    rowTops: Array.from({ length: rows }, (_, r) => top + r * (ch + gap)),
    rowLabelRight: left - margin,
    colLabelBaseline: top - baselineInset,
    titleLines,
    titleBaselines: titleLines.map((_, i) => margin + (i + 1) * line - baselineInset),
  };
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function labelsSvg(options: GridOptions, layout: GridLayout): string {
  const { fontSize, cellWidth, cellHeight } = layout;
  const charWidth = fontSize * CHAR_EM;
  const texts: string[] = [];
  const text = (x: number, y: number, anchor: "start" | "middle" | "end", content: string, bold = false) => {
    if (content) {
      texts.push(
        `<text x="${x}" y="${y}" text-anchor="${anchor}" xml:space="preserve"${bold ? ' font-weight="bold"' : ""}>${escapeXml(content)}</text>`,
      );
    }
  };
  layout.titleLines.forEach((line, i) => text(layout.margin, layout.titleBaselines[i], "start", line, true));
  const maxColChars = Math.floor(cellWidth / charWidth);
  options.colLabels.forEach((label, c) => {
    text(layout.columnLefts[c] + cellWidth / 2, layout.colLabelBaseline, "middle", fitText(label, maxColChars));
  });
  options.rowLabels.forEach((label, r) => {
    // Optical vertical centre: the baseline sits about 0.35 em below the row's middle.
    text(layout.rowLabelRight, Math.round(layout.rowTops[r] + cellHeight / 2 + fontSize * 0.35), "end", label);
  });
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${layout.width}" height="${layout.height}">` +
    `<g font-family="monospace" font-size="${fontSize}" fill="#1a1a1a">${texts.join("")}</g></svg>`
  );
}

/**
 * Draws `cells` as a labelled grid on white and returns the PNG. Every
 * (row, col) in rows × cols must appear exactly once, all at one size.
 * Cells are upscaled nearest-neighbour, so each decoded pixel stays a crisp block.
 */
export async function composeGrid(cells: readonly GridCellImage[], options: GridOptions): Promise<Buffer> {
  if (cells.length === 0) throw invalid("grid has no cells");
  const { width: cellWidth, height: cellHeight } = cells[0];
  const layout = gridLayout(options, cellWidth, cellHeight);
  const seen = new Set<number>();
  for (const cell of cells) {
    const where = `grid cell (row ${cell.row}, col ${cell.col})`;
    if (!Number.isSafeInteger(cell.row) || !Number.isSafeInteger(cell.col) || cell.row < 0 || cell.row >= options.rows || cell.col < 0 || cell.col >= options.cols) {
      throw invalid(`${where} is outside the ${options.rows}×${options.cols} grid`);
    }
    const key = cell.row * options.cols + cell.col;
    if (seen.has(key)) throw invalid(`${where} appears more than once`);
    seen.add(key);
    if (cell.width !== cellWidth || cell.height !== cellHeight) {
      throw invalid(`${where} is ${cell.width}×${cell.height}; all cells must be ${cellWidth}×${cellHeight}`);
    }
    checkRgb(cell, where);
  }
  if (seen.size !== options.rows * options.cols) {
    throw invalid(`grid has ${seen.size} cells; a ${options.rows}×${options.cols} grid needs ${options.rows * options.cols}`);
  }

  const tiles = await Promise.all(
    cells.map(async (cell) => ({
      input: await rawInput(cell).resize(layout.cellWidth, layout.cellHeight, { kernel: "nearest" }).raw().toBuffer(),
      raw: { width: layout.cellWidth, height: layout.cellHeight, channels: 3 as const },
      left: layout.columnLefts[cell.col],
      top: layout.rowTops[cell.row],
    })),
  );
  return sharp({ create: { width: layout.width, height: layout.height, channels: 3, background: "#ffffff" } })
    .composite([...tiles, { input: Buffer.from(labelsSvg(options, layout)), left: 0, top: 0 }])
    .png()
    .toBuffer();
}

// ───────────────────────── PNG text chunks ─────────────────────────

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const TEXT_CHUNK_TYPES = new Set(["tEXt", "zTXt", "iTXt"]);

interface Chunk {
  readonly type: string;
  readonly data: Buffer;
  /** The whole chunk: length, type, data, CRC. */
  readonly raw: Buffer;
}

function corrupt(message: string): EngineError {
  return new EngineError("invalid_input", `not a valid PNG: ${message}`);
}

function parseChunks(png: Buffer): Chunk[] {
  if (png.length < PNG_SIGNATURE.length || !png.subarray(0, 8).equals(PNG_SIGNATURE)) throw corrupt("bad signature");
  const chunks: Chunk[] = [];
  let offset = 8;
  while (offset < png.length) {
    if (offset + 12 > png.length) throw corrupt(`truncated chunk header at byte ${offset}`);
    const length = png.readUInt32BE(offset);
    const end = offset + 12 + length;
    if (end > png.length) throw corrupt(`chunk at byte ${offset} runs past the end of the file`);
    const type = png.toString("latin1", offset + 4, offset + 8);
    const expected = png.readUInt32BE(end - 4);
    if (crc32(png.subarray(offset + 4, end - 4)) !== expected) throw corrupt(`CRC mismatch in ${type} chunk at byte ${offset}`);
    chunks.push({ type, data: png.subarray(offset + 8, end - 4), raw: png.subarray(offset, end) });
    offset = end;
    if (type === "IEND") break;
  }
  if (chunks[0]?.type !== "IHDR") throw corrupt("first chunk is not IHDR");
  if (chunks.at(-1)?.type !== "IEND") throw corrupt("no IEND chunk");
  return chunks;
}

function encodeChunk(type: string, data: Buffer): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "latin1");
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

// PNG 1.2 §11.3.4.3: 1–79 Latin-1 printable characters, no leading, trailing or doubled spaces.
function checkKeyword(keyword: string): void {
  const printable = [...keyword].every((c) => {
    const code = c.codePointAt(0) ?? 0;
    return (code >= 32 && code <= 126) || (code >= 161 && code <= 255);
  });
  if (keyword.length < 1 || keyword.length > 79 || !printable || /^ | $| {2}/.test(keyword)) {
    throw invalid(`PNG text keyword ${JSON.stringify(keyword)} must be 1–79 printable Latin-1 characters without leading, trailing or double spaces`);
  }
}

function textChunk(keyword: string, text: string): Buffer {
  checkKeyword(keyword);
  // Both chunk kinds end their text at the chunk's end; a NUL would read back as a truncated or mangled value.
  if (text.includes("\0")) throw invalid(`PNG text for keyword "${keyword}" must not contain NUL characters`);
  const key = Buffer.from(keyword, "latin1");
  // tEXt is Latin-1 and many readers assume ASCII or UTF-8 anyway, so only plain ASCII goes there.
  if (/^[\x01-\x7f]*$/.test(text)) {
    return encodeChunk("tEXt", Buffer.concat([key, Buffer.from([0]), Buffer.from(text, "latin1")]));
  }
  // iTXt: keyword \0, compression flag 0, method 0, empty language tag \0, empty translated keyword \0, UTF-8 text.
  return encodeChunk("iTXt", Buffer.concat([key, Buffer.from([0, 0, 0, 0, 0]), Buffer.from(text, "utf8")]));
}

function decodeTextChunk(chunk: Chunk): [string, string] {
  const { type, data } = chunk;
  const keyEnd = data.indexOf(0);
  if (keyEnd < 1) throw corrupt(`${type} chunk has no keyword`);
  const keyword = data.toString("latin1", 0, keyEnd);
  const inflate = (bytes: Buffer) => {
    try {
      return inflateSync(bytes);
    } catch (error) {
      throw corrupt(`compressed ${type} chunk "${keyword}" does not inflate (${(error as Error).message})`);
    }
  };
  if (type === "tEXt") return [keyword, data.toString("latin1", keyEnd + 1)];
  if (type === "zTXt") return [keyword, inflate(data.subarray(keyEnd + 2)).toString("latin1")];
  const compressed = data[keyEnd + 1] === 1;
  const languageEnd = data.indexOf(0, keyEnd + 3);
  const translatedEnd = languageEnd < 0 ? -1 : data.indexOf(0, languageEnd + 1);
  if (translatedEnd < 0) throw corrupt(`iTXt chunk "${keyword}" is truncated`);
  const body = data.subarray(translatedEnd + 1);
  return [keyword, (compressed ? inflate(body) : body).toString("utf8")];
}

/**
 * Returns `png` with one text chunk per entry, placed before the image data;
 * existing text chunks with the same keywords are dropped. ASCII values are
 * written as tEXt, others as uncompressed UTF-8 iTXt.
 */
export function withPngText(png: Buffer, entries: Readonly<Record<string, string>>): Buffer {
  const chunks = parseChunks(png);
  const added = Object.entries(entries).map(([keyword, text]) => textChunk(keyword, text));
  const replaced = new Set(Object.keys(entries));
  const parts: Buffer[] = [PNG_SIGNATURE];
  let inserted = false;
  for (const chunk of chunks) {
    if (TEXT_CHUNK_TYPES.has(chunk.type) && replaced.has(decodeTextChunk(chunk)[0])) continue;
    if (!inserted && (chunk.type === "IDAT" || chunk.type === "IEND")) {
      parts.push(...added);
      inserted = true;
    }
    parts.push(chunk.raw);
  }
  return Buffer.concat(parts);
}

/** Reads every tEXt, zTXt and iTXt chunk (a later chunk wins on a repeated keyword); verifies every chunk's CRC. */
export function readPngText(png: Buffer): Record<string, string> {
  const entries = new Map<string, string>();
  for (const chunk of parseChunks(png)) {
    if (TEXT_CHUNK_TYPES.has(chunk.type)) entries.set(...decodeTextChunk(chunk));
  }
  // fromEntries defines own properties, so a keyword like "__proto__" cannot reach the prototype.
  return Object.fromEntries(entries);
}
