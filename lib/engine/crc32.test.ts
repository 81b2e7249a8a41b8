import * as zlib from "node:zlib";
import { describe, expect, it } from "vitest";
import { crc32, crc32Combine } from "./crc32";

const bytes = Uint8Array.from({ length: 5000 }, (_, i) => (i * 131 + (i >> 3)) & 0xff);

describe("crc32", () => {
  it("matches the standard check value and zlib", () => {
    expect(crc32(Buffer.from("123456789"))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(bytes)).toBe(zlib.crc32(bytes));
  });
});

describe("crc32Combine", () => {
  it("gives the CRC of the concatenation from the parts' CRCs, for any split", () => {
    for (const split of [0, 1, 7, 2048, 4999, 5000]) {
      const [a, b] = [bytes.subarray(0, split), bytes.subarray(split)];
      expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(crc32(bytes));
    }
  });
});
