import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { readZip, unzipTests } from "./testing";
import { centralHeader, directoryEnd, dosDateTime, localHeader, writeZip, writeZipFile, type ZipEntry, zipFormat } from "./zip";

const entries: ZipEntry[] = [
  { name: "row0-col0.png", data: new Uint8Array([1, 2, 3, 250]) },
  { name: "run.json", data: Buffer.from('{"λ":1}') },
  { name: "empty.txt", data: new Uint8Array() },
];
const modified = new Date(Date.UTC(2026, 2, 14, 15, 9, 27));

describe("writeZip", () => {
  it("writes entries a reader gets back byte for byte, with CRC-32 and DOS times", async () => {
    const zip = writeZip(entries, modified);
    const parsed = readZip(zip);
    expect(parsed.map((e) => e.name)).toEqual(entries.map((e) => e.name));
    parsed.forEach((entry, i) => expect(new Uint8Array(entry.data)).toEqual(new Uint8Array(entries[i].data)));
    expect(parsed[0]).toMatchObject(dosDateTime(modified));
    if (existsSync("/usr/bin/unzip")) expect(await unzipTests(zip)).toBe(true);
  });

  it("encodes DOS date and time fields", () => {
    expect(dosDateTime(new Date(Date.UTC(1980, 0, 1, 0, 0, 0)))).toEqual({ time: 0, date: (1 << 5) | 1 });
    expect(dosDateTime(new Date(Date.UTC(2026, 11, 31, 23, 59, 59)))).toEqual({ time: (23 << 11) | (59 << 5) | 29, date: (46 << 9) | (12 << 5) | 31 });
  });

  it("writes an empty archive as just its end record", () => {
    expect(readZip(writeZip([], new Date(0)))).toEqual([]);
  });
});

const GiB = 2 ** 30;
const format = zipFormat(modified);

/** What Python's zipfile reads from an archive after checking every CRC: each entry's name and data. */
function readWithPython(zip: Buffer): { name: string; data: string }[] {
  const dir = mkdtempSync(path.join(tmpdir(), "penumbra-zip64-"));
  try {
    const file = path.join(dir, "a.zip");
    writeFileSync(file, zip);
    const script = [
      "import json, sys, zipfile",
      "with zipfile.ZipFile(sys.argv[1]) as z:",
      "    assert z.testzip() is None",
      "    print(json.dumps([{'name': i.filename, 'data': z.read(i).hex()} for i in z.infolist()]))",
    ].join("\n");
    return JSON.parse(execFileSync("/usr/bin/python3", ["-c", script, file], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const hex = (entries: readonly ZipEntry[]) => entries.map((entry) => ({ name: entry.name, data: Buffer.from(entry.data).toString("hex") }));

describe("small archives", () => {
  it("keep the classic layout byte for byte: no zip64 record where every field fits", () => {
    // The bytes the writer made before it knew zip64.
    const zip = writeZip(entries, modified);
    expect(createHash("sha256").update(zip).digest("hex")).toBe("dc3fa87e3f724c773955a2422e8d7409b423fb699559df09ad7d6a5c1770584e");
    expect(writeZip([], new Date(0)).toString("hex")).toBe("504b0506000000000000000000000000000000000000");
  });

  it("are the same streamed to a file from parts as built in memory", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "penumbra-zip-"));
    try {
      const source = path.join(dir, "source.bin");
      await writeFile(source, Buffer.from('{"λ":1} and more'));
      const file = path.join(dir, "a.zip");
      await writeZipFile(
        file,
        [
          { name: entries[0].name, parts: [entries[0].data.subarray(0, 1), entries[0].data.subarray(1)] },
          { name: entries[1].name, parts: [{ file: source, length: entries[1].data.length }] },
          { name: entries[2].name, parts: [] },
        ],
        modified,
      );
      expect((await readFile(file)).equals(writeZip(entries, modified))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("zip64", () => {
  it("gives an entry of 4 GiB or more a local header with both sizes in its zip64 extra field", () => {
    const header = localHeader({ name: "big.npy", crc: 0x12345678, size: 5 * GiB, offset: 0 }, format);
    expect(header.length).toBe(30 + 7 + 20);
    expect(header.readUInt16LE(4)).toBe(45);
    expect(header.readUInt32LE(14)).toBe(0x12345678);
    expect([header.readUInt32LE(18), header.readUInt32LE(22)]).toEqual([0xffffffff, 0xffffffff]);
    expect(header.readUInt16LE(28)).toBe(20);
    expect(header.toString("utf8", 30, 37)).toBe("big.npy");
    expect([header.readUInt16LE(37), header.readUInt16LE(39)]).toEqual([0x0001, 16]);
    expect([header.readBigUInt64LE(41), header.readBigUInt64LE(49)]).toEqual([BigInt(5 * GiB), BigInt(5 * GiB)]);
  });

  it("gives an entry that is large or starts past 4 GiB a central header with sizes and offset in its zip64 extra field", () => {
    for (const entry of [
      { name: "far.png", crc: 7, size: 10, offset: 6 * GiB },
      { name: "big.npy", crc: 7, size: 4 * GiB, offset: 100 },
    ]) {
      const header = centralHeader(entry, format);
      expect(header.length).toBe(46 + 7 + 28);
      expect([header.readUInt16LE(4), header.readUInt16LE(6)]).toEqual([45, 45]);
      expect([header.readUInt32LE(20), header.readUInt32LE(24), header.readUInt32LE(42)]).toEqual([0xffffffff, 0xffffffff, 0xffffffff]);
      expect(header.readUInt16LE(30)).toBe(28);
      expect([header.readUInt16LE(53), header.readUInt16LE(55)]).toEqual([0x0001, 24]);
      expect([header.readBigUInt64LE(57), header.readBigUInt64LE(65), header.readBigUInt64LE(73)]).toEqual([entry.size, entry.size, entry.offset].map(BigInt));
    }
  });

  it("writes the classic headers for an entry below 4 GiB that starts below 4 GiB", () => {
    const entry = { name: "cell.png", crc: 7, size: 0xfffffffe, offset: 0xfffffffe };
    const central = centralHeader(entry, format);
    expect(central.length).toBe(46 + 8);
    expect([central.readUInt16LE(4), central.readUInt32LE(20), central.readUInt32LE(42)]).toEqual([20, 0xfffffffe, 0xfffffffe]);
    expect(localHeader(entry, format).length).toBe(30 + 8);
  });

  it("ends a directory past 4 GiB with the zip64 end record and its locator", () => {
    const directory = { entries: 3, size: 200, offset: 5 * GiB };
    const end = directoryEnd(directory, format);
    expect(end.length).toBe(56 + 20 + 22);
    expect(end.readUInt32LE(0)).toBe(0x06064b50);
    expect(end.readBigUInt64LE(4)).toBe(44n);
    expect([end.readUInt16LE(12), end.readUInt16LE(14)]).toEqual([45, 45]);
    expect([end.readUInt32LE(16), end.readUInt32LE(20)]).toEqual([0, 0]);
    expect([24, 32, 40, 48].map((at) => end.readBigUInt64LE(at))).toEqual([3n, 3n, 200n, BigInt(5 * GiB)]);
    expect(end.readUInt32LE(56)).toBe(0x07064b50);
    expect(end.readUInt32LE(60)).toBe(0);
    expect(end.readBigUInt64LE(64)).toBe(BigInt(5 * GiB + 200));
    expect(end.readUInt32LE(72)).toBe(1);
    expect(end.readUInt32LE(76)).toBe(0x06054b50);
    expect([end.readUInt16LE(84), end.readUInt16LE(86), end.readUInt32LE(88), end.readUInt32LE(92)]).toEqual([3, 3, 0xffffffff, 0xffffffff]);
  });

  it("ends a directory of 65535 entries or more with the zip64 end record, the classic count saturated", () => {
    const end = directoryEnd({ entries: 70_000, size: 3_000_000, offset: 2_000_000 }, format);
    expect(end.length).toBe(56 + 20 + 22);
    expect(end.readBigUInt64LE(32)).toBe(70_000n);
    expect([end.readUInt16LE(84), end.readUInt16LE(86)]).toEqual([0xffff, 0xffff]);
    expect(directoryEnd({ entries: 65_534, size: 3_000_000, offset: 2_000_000 }, format).length).toBe(22);
  });

  it("writes an archive of 65535 entries that Python's zipfile and unzip read", async () => {
    const many = Array.from({ length: 65_535 }, (_, i) => ({ name: `cell${i}.txt`, data: Buffer.from(String(i)) }));
    const zip = writeZip(many, modified);
    // The zip64 end record starts right after the directory: 56 + 20 + 22 bytes from the end.
    expect(zip.readUInt32LE(zip.length - 98)).toBe(0x06064b50);
    const read = readWithPython(zip);
    expect(read).toHaveLength(65_535);
    expect(read.at(-1)).toEqual({ name: "cell65534.txt", data: Buffer.from("65534").toString("hex") });
    if (existsSync("/usr/bin/unzip")) expect(await unzipTests(zip)).toBe(true);
  });

  it("writes zip64 records throughout when asked, and Python's zipfile and unzip read them", async () => {
    const zip = writeZip(entries, modified, "always");
    expect(zip.readUInt16LE(4)).toBe(45);
    expect(zip.readUInt32LE(zip.length - 98)).toBe(0x06064b50);
    expect(readWithPython(zip)).toEqual(hex(entries));
    if (existsSync("/usr/bin/unzip")) expect(await unzipTests(zip)).toBe(true);
  });
});
