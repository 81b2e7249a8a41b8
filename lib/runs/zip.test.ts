import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { readZip, unzipTests } from "./testing";
import { dosDateTime, writeZip, type ZipEntry } from "./zip";

describe("writeZip", () => {
  const entries: ZipEntry[] = [
    { name: "row0-col0.png", data: new Uint8Array([1, 2, 3, 250]) },
    { name: "run.json", data: Buffer.from('{"λ":1}') },
    { name: "empty.txt", data: new Uint8Array() },
  ];

  it("writes entries a reader gets back byte for byte, with CRC-32 and DOS times", async () => {
    const modified = new Date(Date.UTC(2026, 2, 14, 15, 9, 27));
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
