import { open, type FileHandle } from "node:fs/promises";
import { crc32, crc32Combine } from "../engine/index";

/*
 * Zip archives of stored (uncompressed) entries: a run's cells.zip, built in memory (its PNGs are
 * already deflated, so compressing again would only cost time), and .npz files, streamed to disk
 * from parts in memory and ranges of other files (a COCO pairs file is 3.6–4.8 GB).
 *
 * Zip64 records are written only where a size, an offset or the entry count outgrows its classic
 * field, so an ordinary archive keeps the classic layout every reader knows. "always" writes them
 * everywhere, for files whose layout must not depend on their size (.npz: NumPy's reader,
 * Python's zipfile, reads zip64 records).
 */

export type Zip64Mode = "when-needed" | "always";

export interface ZipEntry {
  readonly name: string;
  readonly data: Uint8Array;
}

/** Part of a streamed entry's data: bytes in memory, or the first `length` bytes of a file. */
export type ZipPart = Uint8Array | { readonly file: string; readonly length: number };

export interface StreamedZipEntry {
  readonly name: string;
  /** The entry's data is these parts one after another. */
  readonly parts: readonly ZipPart[];
}

/** What an entry's local and central headers say about it. */
export interface ZipEntryRecord {
  readonly name: string;
  readonly crc: number;
  readonly size: number;
  /** Where the entry's local header starts in the archive. */
  readonly offset: number;
}

/** What the end records say about the central directory. */
export interface ZipDirectoryRecord {
  readonly entries: number;
  /** The directory's length in bytes. */
  readonly size: number;
  /** Where the directory starts in the archive; the end records follow it directly. */
  readonly offset: number;
}

/** What every header of one archive shares. */
export interface ZipFormat {
  /** Every entry's modification time, as MS-DOS fields. */
  readonly time: number;
  readonly date: number;
  readonly zip64: Zip64Mode;
}

const LOCAL_HEADER = 0x04034b50;
const CENTRAL_HEADER = 0x02014b50;
const ZIP64_END_OF_CENTRAL_DIRECTORY = 0x06064b50;
const ZIP64_END_LOCATOR = 0x07064b50;
const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const ZIP64_EXTRA = 0x0001;
const VERSION = 20;
/** 4.5: the first version with zip64 records. */
const VERSION_ZIP64 = 45;
/** General-purpose flag bit 11: names are UTF-8. */
const UTF8_NAMES = 0x0800;
const STORED = 0;
/** All ones in a classic field: "see the zip64 record". A value equal to it must go there too. */
const SATURATED_32 = 0xffffffff;
const SATURATED_16 = 0xffff;
/** Where a local header holds the CRC, which a streamed entry only knows after its data. */
const LOCAL_CRC_OFFSET = 14;
const COPY_CHUNK = 8 * 1024 * 1024;

/** MS-DOS time and date fields (2-second resolution, years 1980–2107), from the UTC clock so an archive is the same anywhere. */
export function dosDateTime(date: Date): { time: number; date: number } {
  const year = Math.min(2107, Math.max(1980, date.getUTCFullYear()));
  return {
    time: (date.getUTCHours() << 11) | (date.getUTCMinutes() << 5) | Math.floor(date.getUTCSeconds() / 2),
    date: ((year - 1980) << 9) | ((date.getUTCMonth() + 1) << 5) | date.getUTCDate(),
  };
}

export function zipFormat(modified: Date, zip64: Zip64Mode = "when-needed"): ZipFormat {
  return { ...dosDateTime(modified), zip64 };
}

// An entry is in zip64 form as a whole: every 32-bit size and offset saturated, the real values in
// its extra field. The spec allows either that or saturating only the fields that overflow.
function entryIsZip64(entry: ZipEntryRecord, format: ZipFormat): boolean {
  return format.zip64 === "always" || entry.size >= SATURATED_32 || entry.offset >= SATURATED_32;
}

function directoryIsZip64(directory: ZipDirectoryRecord, format: ZipFormat): boolean {
  return format.zip64 === "always" || directory.entries >= SATURATED_16 || directory.size >= SATURATED_32 || directory.offset >= SATURATED_32;
}

function zip64Extra(values: readonly number[]): Buffer {
  const extra = Buffer.alloc(4 + 8 * values.length);
  extra.writeUInt16LE(ZIP64_EXTRA, 0);
  extra.writeUInt16LE(8 * values.length, 2);
  values.forEach((value, i) => extra.writeBigUInt64LE(BigInt(value), 4 + 8 * i));
  return extra;
}

/** An entry's local header, name and extra field: what precedes its data. */
export function localHeader(entry: ZipEntryRecord, format: ZipFormat): Buffer {
  const zip64 = entryIsZip64(entry, format);
  const name = Buffer.from(entry.name, "utf8");
  // A local zip64 extra field holds both sizes and never the offset.
  const extra = zip64 ? zip64Extra([entry.size, entry.size]) : Buffer.alloc(0);
  const header = Buffer.alloc(30);
  header.writeUInt32LE(LOCAL_HEADER, 0);
  header.writeUInt16LE(zip64 ? VERSION_ZIP64 : VERSION, 4);
  header.writeUInt16LE(UTF8_NAMES, 6);
  header.writeUInt16LE(STORED, 8);
  header.writeUInt16LE(format.time, 10);
  header.writeUInt16LE(format.date, 12);
  header.writeUInt32LE(entry.crc, LOCAL_CRC_OFFSET);
  header.writeUInt32LE(zip64 ? SATURATED_32 : entry.size, 18);
  header.writeUInt32LE(zip64 ? SATURATED_32 : entry.size, 22);
  header.writeUInt16LE(name.length, 26);
  header.writeUInt16LE(extra.length, 28);
  return Buffer.concat([header, name, extra]);
}

/** An entry's central directory header, name and extra field. */
export function centralHeader(entry: ZipEntryRecord, format: ZipFormat): Buffer {
  const zip64 = entryIsZip64(entry, format);
  const version = zip64 ? VERSION_ZIP64 : VERSION;
  const name = Buffer.from(entry.name, "utf8");
  const extra = zip64 ? zip64Extra([entry.size, entry.size, entry.offset]) : Buffer.alloc(0);
  const header = Buffer.alloc(46);
  header.writeUInt32LE(CENTRAL_HEADER, 0);
  header.writeUInt16LE(version, 4);
  header.writeUInt16LE(version, 6);
  header.writeUInt16LE(UTF8_NAMES, 8);
  header.writeUInt16LE(STORED, 10);
  header.writeUInt16LE(format.time, 12);
  header.writeUInt16LE(format.date, 14);
  header.writeUInt32LE(entry.crc, 16);
  header.writeUInt32LE(zip64 ? SATURATED_32 : entry.size, 20);
  header.writeUInt32LE(zip64 ? SATURATED_32 : entry.size, 24);
  header.writeUInt16LE(name.length, 28);
  header.writeUInt16LE(extra.length, 30);
  // Comment length, disk number, internal and external attributes: all zero.
  header.writeUInt32LE(zip64 ? SATURATED_32 : entry.offset, 42);
  return Buffer.concat([header, name, extra]);
}

/** What follows the central directory: the zip64 end record and its locator where needed, then the end record. */
export function directoryEnd(directory: ZipDirectoryRecord, format: ZipFormat): Buffer {
  const end = Buffer.alloc(22);
  end.writeUInt32LE(END_OF_CENTRAL_DIRECTORY, 0);
  if (!directoryIsZip64(directory, format)) {
    end.writeUInt16LE(directory.entries, 8);
    end.writeUInt16LE(directory.entries, 10);
    end.writeUInt32LE(directory.size, 12);
    end.writeUInt32LE(directory.offset, 16);
    return end;
  }
  const zip64End = Buffer.alloc(56);
  zip64End.writeUInt32LE(ZIP64_END_OF_CENTRAL_DIRECTORY, 0);
  // The record's size, not counting its signature and this field.
  zip64End.writeBigUInt64LE(BigInt(zip64End.length - 12), 4);
  zip64End.writeUInt16LE(VERSION_ZIP64, 12);
  zip64End.writeUInt16LE(VERSION_ZIP64, 14);
  // This disk and the directory's disk: 0.
  zip64End.writeBigUInt64LE(BigInt(directory.entries), 24);
  zip64End.writeBigUInt64LE(BigInt(directory.entries), 32);
  zip64End.writeBigUInt64LE(BigInt(directory.size), 40);
  zip64End.writeBigUInt64LE(BigInt(directory.offset), 48);

  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(ZIP64_END_LOCATOR, 0);
  // The zip64 end record's disk (0), where it starts, and the number of disks.
  locator.writeBigUInt64LE(BigInt(directory.offset + directory.size), 8);
  locator.writeUInt32LE(1, 16);

  // Readers take the directory's size and offset from the zip64 record; a count that fits stays readable here.
  end.writeUInt16LE(Math.min(directory.entries, SATURATED_16), 8);
  end.writeUInt16LE(Math.min(directory.entries, SATURATED_16), 10);
  end.writeUInt32LE(SATURATED_32, 12);
  end.writeUInt32LE(SATURATED_32, 16);
  return Buffer.concat([zip64End, locator, end]);
}

/** The archive's bytes: local headers and data, then the central directory and its end records. */
export function writeZip(entries: readonly ZipEntry[], modified: Date, zip64: Zip64Mode = "when-needed"): Buffer {
  const format = zipFormat(modified, zip64);
  const parts: Uint8Array[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const record = { name: entry.name, crc: crc32(entry.data), size: entry.data.length, offset };
    const local = localHeader(record, format);
    parts.push(local, entry.data);
    centrals.push(centralHeader(record, format));
    offset += local.length + entry.data.length;
  }
  const directory = Buffer.concat(centrals);
  return Buffer.concat([...parts, directory, directoryEnd({ entries: entries.length, size: directory.length, offset }, format)]);
}

class PositionedWriter {
  position = 0;
  constructor(private readonly handle: FileHandle) {}

  async write(bytes: Uint8Array): Promise<void> {
    await this.writeAt(bytes, this.position);
    this.position += bytes.length;
  }

  async writeAt(bytes: Uint8Array, position: number): Promise<void> {
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await this.handle.write(bytes, written, bytes.length - written, position + written);
      written += bytesWritten;
    }
  }
}

/** Copies `part` to the writer and returns its CRC-32. */
async function copyPart(writer: PositionedWriter, part: ZipPart): Promise<number> {
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

/**
 * Writes the archive to `file` (replacing it), copying each entry's parts in turn, so no entry
 * need fit in memory; synced before it returns. The caller renames a temporary file into place if
 * it needs atomicity.
 */
export async function writeZipFile(file: string, entries: readonly StreamedZipEntry[], modified: Date, zip64: Zip64Mode = "when-needed"): Promise<void> {
  const format = zipFormat(modified, zip64);
  const handle = await open(file, "w");
  try {
    const writer = new PositionedWriter(handle);
    const centrals: Buffer[] = [];
    for (const entry of entries) {
      const offset = writer.position;
      const size = entry.parts.reduce((sum, part) => sum + part.length, 0);
      await writer.write(localHeader({ name: entry.name, crc: 0, size, offset }, format));
      let crc = 0;
      for (const part of entry.parts) crc = crc32Combine(crc, await copyPart(writer, part), part.length);
      const crcBytes = Buffer.alloc(4);
      crcBytes.writeUInt32LE(crc, 0);
      await writer.writeAt(crcBytes, offset + LOCAL_CRC_OFFSET);
      centrals.push(centralHeader({ name: entry.name, crc, size, offset }, format));
    }
    const directory = Buffer.concat(centrals);
    const end = directoryEnd({ entries: entries.length, size: directory.length, offset: writer.position }, format);
    await writer.write(Buffer.concat([directory, end]));
    await handle.sync();
  } finally {
    await handle.close();
  }
}
