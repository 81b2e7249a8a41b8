import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { deflateSync } from "node:zlib";
import sharp from "sharp";
import { expect } from "vitest";
import { crc32 } from "../engine/index";

/* Helpers for tests of lib/runs and the route handlers: hand-made PNG headers, reading archives back. */

export interface ParsedZipEntry {
  readonly name: string;
  readonly data: Buffer;
  readonly time: number;
  readonly date: number;
}

/** Reads a stored-entries zip back through its central directory, checking each entry's CRC-32 and local header. */
export function readZip(zip: Buffer): ParsedZipEntry[] {
  const end = zip.length - 22;
  expect(zip.readUInt32LE(end)).toBe(0x06054b50);
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  expect(at + zip.readUInt32LE(end + 12)).toBe(end);
  const entries: ParsedZipEntry[] = [];
  for (let i = 0; i < count; i++) {
    expect(zip.readUInt32LE(at)).toBe(0x02014b50);
    expect(zip.readUInt16LE(at + 10)).toBe(0);
    const crc = zip.readUInt32LE(at + 16);
    const size = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const name = zip.toString("utf8", at + 46, at + 46 + nameLength);
    const local = zip.readUInt32LE(at + 42);
    expect(zip.readUInt32LE(local)).toBe(0x04034b50);
    expect(zip.readUInt32LE(local + 14)).toBe(crc);
    const dataStart = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
    const data = zip.subarray(dataStart, dataStart + size);
    expect(crc32(data)).toBe(crc);
    entries.push({ name, data, time: zip.readUInt16LE(at + 12), date: zip.readUInt16LE(at + 14) });
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return entries;
}

/** `unzip -tq` on the archive (quiet: a list of 65535 entries would overflow the output buffer) when the tool is installed; true when it passed, false when it could not run. */
export async function unzipTests(zip: Buffer): Promise<boolean> {
  if (!existsSync("/usr/bin/unzip")) return false;
  const dir = await mkdtemp(path.join(tmpdir(), "penumbra-zip-"));
  try {
    await writeFile(path.join(dir, "a.zip"), zip);
    execFileSync("/usr/bin/unzip", ["-tq", path.join(dir, "a.zip")], { stdio: "pipe" });
    return true;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function chunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const out = Buffer.alloc(4 + body.length + 4);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 4 + body.length);
  return out;
}

/** A well-formed PNG whose header declares `width`×`height` (8-bit RGB) but carries one scanline of data. */
export function pngWithHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.alloc(1 + 3))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/**
 * A tiny valid JPEG (8×8, baseline) whose SOF0 header is patched to declare `width`×`height`: its
 * scan data ends at the end-of-image marker long before that many pixels (as in issue 14's 293-byte 4000×4000 upload).
 */
export async function jpegWithHeader(width: number, height: number): Promise<Buffer> {
  const jpeg = Buffer.from(await sharp({ create: { width: 8, height: 8, channels: 3, background: "#c03030" } }).jpeg().toBuffer());
  const sof0 = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
  if (sof0 < 0) throw new Error("sharp wrote a JPEG without a baseline SOF0 marker");
  // Marker (2 bytes), segment length (2), sample precision (1), then height and width, big-endian.
  jpeg.writeUInt16BE(height, sof0 + 5);
  jpeg.writeUInt16BE(width, sof0 + 7);
  return jpeg;
}
