import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { npyHeader, writeNpz } from "./npz";

const dir = mkdtempSync(path.join(tmpdir(), "penumbra-npz-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function bytesOf(array: Float32Array | BigInt64Array): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

describe("npyHeader", () => {
  it("writes NumPy's v1.0 header, padded so the data starts on a 64-byte boundary", () => {
    const header = npyHeader("<f4", [3, 2]);
    expect(header.length % 64).toBe(0);
    expect(header.subarray(0, 8).equals(Buffer.from("\x93NUMPY\x01\x00", "latin1"))).toBe(true);
    expect(header.readUInt16LE(8)).toBe(header.length - 10);
    expect(header.toString("latin1", 10).trimEnd()).toBe("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }");
    expect(header.at(-1)).toBe(0x0a);
    expect(npyHeader("<i8", [5]).toString("latin1")).toContain("'shape': (5,)");
  });

  it("refuses sizes that are not integers ≥ 0", () => {
    expect(() => npyHeader("<f4", [2, -1])).toThrow(/integers ≥ 0/);
  });
});

/**
 * What np.load makes of a file (after zipfile checked every CRC): each array's shape, dtype, the
 * sha256 of its little-endian bytes, and its values (float32 exactly, as doubles) when small.
 */
function loadWithNumpy(file: string): Record<string, { shape: number[]; dtype: string; sha256: string; values?: number[] }> {
  const script = [
    "import hashlib, json, sys, zipfile, numpy as np",
    "assert zipfile.ZipFile(sys.argv[1]).testzip() is None",
    "def describe(a):",
    "    out = {'shape': list(a.shape), 'dtype': str(a.dtype), 'sha256': hashlib.sha256(a.astype(a.dtype.newbyteorder('<')).tobytes()).hexdigest()}",
    "    if a.size <= 1000: out['values'] = a.ravel().tolist()",
    "    return out",
    "with np.load(sys.argv[1]) as d:",
    "    print(json.dumps({k: describe(d[k]) for k in d.files}))",
  ].join("\n");
  return JSON.parse(execFileSync("/usr/bin/python3", ["-c", script, file], { encoding: "utf8", maxBuffer: 256 * 1024 * 1024 }));
}

describe("writeNpz", () => {
  it("writes a zip64 .npz that np.load reads back exactly, from memory and file parts across copy chunks", async () => {
    // 2.5 M floats = 10 MB: more than one 8 MB copy chunk, so the streamed CRC is combined.
    const big = Float32Array.from({ length: 2_500_000 }, (_, i) => Math.fround(Math.sin(i) * 10));
    const bigFile = path.join(dir, "big.f32");
    writeFileSync(bigFile, bytesOf(big));
    const small = Float32Array.from([1.5, -2.25, 3e-8, 7]);
    const ids = BigInt64Array.from([101n, -3n, 2n ** 40n + 1n]);
    const out = path.join(dir, "arrays.npz");
    await writeNpz(out, [
      { name: "big", dtype: "<f4", shape: [1_250_000, 2], data: [{ file: bigFile, length: big.byteLength }] },
      { name: "small", dtype: "<f4", shape: [2, 2], data: [bytesOf(small.subarray(0, 1)), bytesOf(small.subarray(1))] },
      { name: "ids", dtype: "<i8", shape: [3], data: [bytesOf(ids)] },
      { name: "empty", dtype: "<f4", shape: [0, 4], data: [] },
    ]);
    const loaded = loadWithNumpy(out);
    expect(Object.keys(loaded)).toEqual(["big", "small", "ids", "empty"]);
    expect(loaded.big).toEqual({ shape: [1_250_000, 2], dtype: "float32", sha256: sha256(bytesOf(big)) });
    expect(loaded.small).toMatchObject({ shape: [2, 2], dtype: "float32", values: Array.from(small) });
    expect(loaded.ids).toMatchObject({ shape: [3], dtype: "int64", values: [101, -3, 2 ** 40 + 1] });
    expect(loaded.empty).toMatchObject({ shape: [0, 4], dtype: "float32", values: [] });
  });

  it("writes the same bytes as the npz writer before it shared lib/runs/zip.ts", async () => {
    const values = bytesOf(Float32Array.from([1.5, -2.25, 3e-8, 7, 0.5, 9]));
    const tail = path.join(dir, "tail.f32");
    writeFileSync(tail, values.subarray(8));
    const out = path.join(dir, "fixed.npz");
    await writeNpz(out, [
      { name: "x", dtype: "<f4", shape: [3, 2], data: [values.subarray(0, 8), { file: tail, length: 16 }] },
      { name: "ids", dtype: "<i8", shape: [2], data: [bytesOf(BigInt64Array.from([5n, -1n]))] },
      { name: "none", dtype: "<f4", shape: [0], data: [] },
    ]);
    expect(sha256(readFileSync(out))).toBe("3ccb60e2db04a513f34f3c566b579c3156ada78dfb3458da00b14ae926131ab8");
  });

  it("refuses data whose length does not match the shape", async () => {
    await expect(writeNpz(path.join(dir, "bad.npz"), [{ name: "x", dtype: "<f4", shape: [2, 2], data: [new Uint8Array(12)] }])).rejects.toThrow(
      /shape \[2, 2\] of <f4 needs 16 bytes, the data has 12/,
    );
  });
});
