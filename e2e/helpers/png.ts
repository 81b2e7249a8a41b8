import { deflateSync, inflateSync } from "node:zlib";

/*
 * Just enough PNG for the browser tests: walk and check chunks, read text metadata, and encode
 * small images for uploads. Written here rather than borrowed from lib/ so the tests do not
 * trust the code they check.
 */

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) crc = CRC_TABLE[(crc ^ byte) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

export interface PngChunk {
  readonly type: string;
  readonly data: Buffer;
}

/** Every chunk in order; throws on a missing signature, a truncated chunk or a CRC mismatch. */
export function readPngChunks(png: Buffer): PngChunk[] {
  if (png.length < 8 || !png.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error("not a PNG: bad signature");
  const chunks: PngChunk[] = [];
  let offset = 8;
  while (offset < png.length) {
    if (offset + 12 > png.length) throw new Error(`truncated chunk header at byte ${offset}`);
    const length = png.readUInt32BE(offset);
    const type = png.toString("latin1", offset + 4, offset + 8);
    const end = offset + 12 + length;
    if (end > png.length) throw new Error(`truncated ${type} chunk at byte ${offset}`);
    const data = png.subarray(offset + 8, offset + 8 + length);
    const expected = png.readUInt32BE(offset + 8 + length);
    if (crc32(png.subarray(offset + 4, offset + 8 + length)) !== expected) throw new Error(`CRC mismatch in ${type} chunk`);
    chunks.push({ type, data });
    offset = end;
    if (type === "IEND") break;
  }
  if (chunks[0]?.type !== "IHDR" || chunks.at(-1)?.type !== "IEND") throw new Error("PNG does not start with IHDR and end with IEND");
  return chunks;
}

export function pngSize(png: Buffer): { width: number; height: number } {
  const header = readPngChunks(png)[0].data;
  return { width: header.readUInt32BE(0), height: header.readUInt32BE(4) };
}

/** Text metadata by keyword, from tEXt (Latin-1), zTXt (deflated Latin-1) and iTXt (UTF-8, optionally deflated). */
export function readPngText(png: Buffer): Record<string, string> {
  const entries: Record<string, string> = {};
  for (const { type, data } of readPngChunks(png)) {
    if (type !== "tEXt" && type !== "zTXt" && type !== "iTXt") continue;
    const keywordEnd = data.indexOf(0);
    if (keywordEnd < 1) throw new Error(`${type} chunk without a keyword`);
    const keyword = data.toString("latin1", 0, keywordEnd);
    if (type === "tEXt") {
      entries[keyword] = data.toString("latin1", keywordEnd + 1);
    } else if (type === "zTXt") {
      entries[keyword] = inflateSync(data.subarray(keywordEnd + 2)).toString("latin1");
    } else {
      const compressed = data[keywordEnd + 1] === 1;
      const languageEnd = data.indexOf(0, keywordEnd + 3);
      const translatedEnd = data.indexOf(0, languageEnd + 1);
      if (languageEnd < 0 || translatedEnd < 0) throw new Error(`malformed iTXt chunk ${keyword}`);
      const text = data.subarray(translatedEnd + 1);
      entries[keyword] = (compressed ? inflateSync(text) : text).toString("utf8");
    }
  }
  return entries;
}

function chunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

function header(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type: RGB
  return chunk("IHDR", ihdr); // compression, filter and interlace stay 0
}

export type Rgb = readonly [number, number, number];

/** An 8-bit RGB PNG whose pixel (x, y) is `colourAt(x, y)`. */
export function encodePng(width: number, height: number, colourAt: (x: number, y: number) => Rgb): Buffer {
  const stride = 1 + width * 3;
  const raw = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    // Each scanline starts with filter type 0 (none), already zero.
    for (let x = 0; x < width; x++) raw.set(colourAt(x, y), y * stride + 1 + x * 3);
  }
  return Buffer.concat([PNG_SIGNATURE, header(width, height), chunk("IDAT", deflateSync(raw)), chunk("IEND", Buffer.alloc(0))]);
}

/**
 * A well-formed PNG that claims to be `width` × `height` but carries only one row of pixels:
 * a server that checks the header must refuse it without decoding (or allocating) anything.
 */
export function pngWithClaimedSize(width: number, height: number): Buffer {
  const oneRow = deflateSync(Buffer.alloc(1 + width * 3));
  return Buffer.concat([PNG_SIGNATURE, header(width, height), chunk("IDAT", oneRow), chunk("IEND", Buffer.alloc(0))]);
}
