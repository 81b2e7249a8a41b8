import { open, type FileHandle } from "node:fs/promises";
import { crc32 } from "../../lib/engine/images";
import { dosDateTime } from "../../lib/runs/zip";

/*
 * NumPy .npz files written as a stream: a zip of stored (uncompressed) .npy entries whose array
 * data is copied from files on disk. lib/runs/zip.ts builds its archive in memory and has no
 * zip64; a pairs file for COCO in a 768- or 1024-dimensional CLIP space is 3.6–4.8 GB, so this
 * writer streams and always writes zip64 records (Python's zipfile, hence np.load, reads them).
 */

/** A dtype NumPy names portably: little-endian float32 and int64. */
export type NpyDtype = "<f4" | "<i8";

export const DTYPE_BYTES: Readonly<Record<NpyDtype, number>> = { "<f4": 4, "<i8": 8 };

/** The .npy v1.0 header of a C-order array; NumPy pads it so the data starts on a 64-byte boundary. */
export function npyHeader(dtype: NpyDtype, shape: readonly number[]): Buffer {
  for (const size of shape) {
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`npy shape sizes must be integers ≥ 0, got [${shape.join(", ")}]`);
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  const dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const prefixLength = 10; // magic (6), version (2), header length (2)
  const unpadded = prefixLength + dict.length + 1; // + the closing newline
  const padded = Math.ceil(unpadded / 64) * 64;
  const header = Buffer.alloc(padded, 0x20);
  header.write("\x93NUMPY", 0, "latin1");
  header[6] = 1;
  header[7] = 0;
  header.writeUInt16LE(padded - prefixLength, 8);
  header.write(dict, prefixLength, "latin1");
  header[padded - 1] = 0x0a;
  return header;
}

// ───────────────────────── CRC-32 over a stream ─────────────────────────

function gf2MatrixTimes(matrix: Uint32Array, vector: number): number {
  let sum = 0;
  for (let i = 0; vector !== 0; i++, vector >>>= 1) if (vector & 1) sum ^= matrix[i];
  return sum >>> 0;
}

function gf2MatrixSquare(square: Uint32Array, matrix: Uint32Array): void {
  for (let n = 0; n < 32; n++) square[n] = gf2MatrixTimes(matrix, matrix[n]);
}

/**
 * CRC-32 of A‖B from crc32(A), crc32(B) and B's length (zlib's crc32_combine), so a file's CRC can
 * be built chunk by chunk with lib/engine/images' one-shot crc32.
 */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB <= 0) return crcA >>> 0;
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  // odd: the operator for one zero bit (the CRC-32 polynomial, reflected).
  odd[0] = 0xedb88320;
  for (let n = 1, row = 1; n < 32; n++, row <<= 1) odd[n] = row >>> 0;
  gf2MatrixSquare(even, odd); // two zero bits
  gf2MatrixSquare(odd, even); // four zero bits
  let crc = crcA >>> 0;
  let remaining = lengthB;
  // Apply lengthB zero bytes to crcA, squaring the operator for each bit of the length.
  for (;;) {
    gf2MatrixSquare(even, odd);
    if (remaining % 2 === 1) crc = gf2MatrixTimes(even, crc);
    remaining = Math.floor(remaining / 2);
    if (remaining === 0) break;
    gf2MatrixSquare(odd, even);
    if (remaining % 2 === 1) crc = gf2MatrixTimes(odd, crc);
    remaining = Math.floor(remaining / 2);
    if (remaining === 0) break;
  }
  return (crc ^ crcB) >>> 0;
}

// ───────────────────────── the archive ─────────────────────────

/** Part of an entry: bytes in memory, or the first `length` bytes of a file. */
export type NpzPart = Uint8Array | { readonly file: string; readonly length: number };

export interface NpzEntry {
  /** The array's key in np.load's result; the entry is stored as `<name>.npy`. */
  readonly name: string;
  readonly dtype: NpyDtype;
  readonly shape: readonly number[];
  /** The array's data, C order, little-endian, exactly shape × dtype bytes. */
  readonly data: readonly NpzPart[];
}

const LOCAL_HEADER = 0x04034b50;
const CENTRAL_HEADER = 0x02014b50;
const ZIP64_END_OF_CENTRAL_DIRECTORY = 0x06064b50;
const ZIP64_END_LOCATOR = 0x07064b50;
const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const ZIP64_EXTRA = 0x0001;
/** 4.5: the first version with zip64 records. */
const VERSION_ZIP64 = 45;
const UTF8_NAMES = 0x0800;
const STORED = 0;
const SATURATED_32 = 0xffffffff;
const SATURATED_16 = 0xffff;
const COPY_CHUNK = 8 * 1024 * 1024;
// A fixed timestamp: the same arrays always give the same bytes, so a resumed run can be compared
// byte for byte with an uninterrupted one.
const ENTRY_TIME = dosDateTime(new Date(Date.UTC(1980, 0, 1)));

function partLength(part: NpzPart): number {
  return part instanceof Uint8Array ? part.length : part.length;
}

class PositionedWriter {
  position = 0;
  constructor(readonly handle: FileHandle) {}

  async write(bytes: Uint8Array): Promise<void> {
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, written, bytes.length - written, this.position + written);
      written += bytesWritten;
    }
    this.position += bytes.length;
  }
}

/** Copies `part` to the writer and returns its CRC-32. */
async function copyPart(writer: PositionedWriter, part: NpzPart): Promise<number> {
  if (part instanceof Uint8Array) {
    await writer.write(part);
    return crc32(part);
  }
  const source = await open(part.file, "r");
  try {
    const chunk = Buffer.allocUnsafe(Math.min(COPY_CHUNK, Math.max(1, part.length)));
    let crc = 0;
    let copied = 0;
    while (copied < part.length) {
      const { bytesRead } = await source.read(chunk, 0, Math.min(chunk.length, part.length - copied), copied);
      if (bytesRead === 0) throw new Error(`${part.file} ended after ${copied} bytes; ${part.length} were expected`);
      const piece = chunk.subarray(0, bytesRead);
      await writer.write(piece);
      crc = crc32Combine(crc, crc32(piece), bytesRead);
      copied += bytesRead;
    }
    return crc;
  } finally {
    await source.close();
  }
}

function writeUInt64(buffer: Buffer, value: number, offset: number): void {
  buffer.writeBigUInt64LE(BigInt(value), offset);
}

/** Writes `entries` as an .npz at `file` (replacing it). The caller renames a temporary file into place if it needs atomicity. */
export async function writeNpz(file: string, entries: readonly NpzEntry[]): Promise<void> {
  const handle = await open(file, "w");
  try {
    const writer = new PositionedWriter(handle);
    const centrals: Buffer[] = [];
    for (const entry of entries) {
      const expected = entry.shape.reduce((product, size) => product * size, 1) * DTYPE_BYTES[entry.dtype];
      const actual = entry.data.reduce((sum, part) => sum + partLength(part), 0);
      if (actual !== expected) {
        throw new Error(`npz entry ${entry.name}: shape [${entry.shape.join(", ")}] of ${entry.dtype} needs ${expected} bytes, the data has ${actual}`);
      }
      const header = npyHeader(entry.dtype, entry.shape);
      const name = Buffer.from(`${entry.name}.npy`, "utf8");
      const size = header.length + expected;
      const offset = writer.position;

      const local = Buffer.alloc(30 + name.length + 20);
      local.writeUInt32LE(LOCAL_HEADER, 0);
      local.writeUInt16LE(VERSION_ZIP64, 4);
      local.writeUInt16LE(UTF8_NAMES, 6);
      local.writeUInt16LE(STORED, 8);
      local.writeUInt16LE(ENTRY_TIME.time, 10);
      local.writeUInt16LE(ENTRY_TIME.date, 12);
      // CRC (offset 14) is patched in once the data has been streamed.
      local.writeUInt32LE(SATURATED_32, 18);
      local.writeUInt32LE(SATURATED_32, 22);
      local.writeUInt16LE(name.length, 26);
      local.writeUInt16LE(20, 28);
      name.copy(local, 30);
      local.writeUInt16LE(ZIP64_EXTRA, 30 + name.length);
      local.writeUInt16LE(16, 32 + name.length);
      writeUInt64(local, size, 34 + name.length);
      writeUInt64(local, size, 42 + name.length);
      await writer.write(local);

      let crc = await copyPart(writer, header);
      for (const part of entry.data) crc = crc32Combine(crc, await copyPart(writer, part), partLength(part));
      const crcBytes = Buffer.alloc(4);
      crcBytes.writeUInt32LE(crc, 0);
      await handle.write(crcBytes, 0, 4, offset + 14);

      const central = Buffer.alloc(46 + name.length + 28);
      central.writeUInt32LE(CENTRAL_HEADER, 0);
      central.writeUInt16LE(VERSION_ZIP64, 4);
      central.writeUInt16LE(VERSION_ZIP64, 6);
      central.writeUInt16LE(UTF8_NAMES, 8);
      central.writeUInt16LE(STORED, 10);
      central.writeUInt16LE(ENTRY_TIME.time, 12);
      central.writeUInt16LE(ENTRY_TIME.date, 14);
      central.writeUInt32LE(crc, 16);
      central.writeUInt32LE(SATURATED_32, 20);
      central.writeUInt32LE(SATURATED_32, 24);
      central.writeUInt16LE(name.length, 28);
      central.writeUInt16LE(28, 30);
      // Comment length, disk number, internal and external attributes: all zero.
      central.writeUInt32LE(SATURATED_32, 42);
      name.copy(central, 46);
      central.writeUInt16LE(ZIP64_EXTRA, 46 + name.length);
      central.writeUInt16LE(24, 48 + name.length);
      writeUInt64(central, size, 50 + name.length);
      writeUInt64(central, size, 58 + name.length);
      writeUInt64(central, offset, 66 + name.length);
      centrals.push(central);
    }

    const directory = Buffer.concat(centrals);
    const directoryOffset = writer.position;
    await writer.write(directory);
    const zip64EndOffset = writer.position;

    const zip64End = Buffer.alloc(56);
    zip64End.writeUInt32LE(ZIP64_END_OF_CENTRAL_DIRECTORY, 0);
    writeUInt64(zip64End, 56 - 12, 4);
    zip64End.writeUInt16LE(VERSION_ZIP64, 12);
    zip64End.writeUInt16LE(VERSION_ZIP64, 14);
    // This disk and the directory's disk: 0.
    writeUInt64(zip64End, entries.length, 24);
    writeUInt64(zip64End, entries.length, 32);
    writeUInt64(zip64End, directory.length, 40);
    writeUInt64(zip64End, directoryOffset, 48);

    const locator = Buffer.alloc(20);
    locator.writeUInt32LE(ZIP64_END_LOCATOR, 0);
    writeUInt64(locator, zip64EndOffset, 8);
    locator.writeUInt32LE(1, 16);

    const end = Buffer.alloc(22);
    end.writeUInt32LE(END_OF_CENTRAL_DIRECTORY, 0);
    end.writeUInt16LE(Math.min(entries.length, SATURATED_16), 8);
    end.writeUInt16LE(Math.min(entries.length, SATURATED_16), 10);
    end.writeUInt32LE(SATURATED_32, 12);
    end.writeUInt32LE(SATURATED_32, 16);
    await writer.write(Buffer.concat([zip64End, locator, end]));
    await handle.sync();
  } finally {
    await handle.close();
  }
}
