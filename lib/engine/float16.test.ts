import { describe, expect, it } from "vitest";
import { float16BitsToFloat32, float16BitsToFloat32Array, float32ArrayToFloat16Bits, float32ToFloat16Bits } from "./float16";

describe("float16", () => {
  it.each([
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [65504, 0x7bff],
    [65520, 0x7c00], // rounds up past the largest half: Infinity
    [Infinity, 0x7c00],
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // halfway to 0: ties to even
    [3 * 2 ** -25, 0x0002], // halfway between 1 and 2 subnormal steps: ties to even (2)
    [1 + 2 ** -11, 0x3c00], // halfway between 1 and the next half: ties to even (1)
    [1 + 3 * 2 ** -11, 0x3c02],
    [0.1, 0x2e66],
  ])("encodes %d as 0x%s", (value, bits) => {
    expect(float32ToFloat16Bits(value)).toBe(bits);
  });

  it("decodes every finite half back to a value that encodes to the same bits", () => {
    const mismatches: number[] = [];
    for (let bits = 0; bits < 0x10000; bits++) {
      if (((bits >>> 10) & 0x1f) === 0x1f) continue;
      if (float32ToFloat16Bits(float16BitsToFloat32(bits)) !== bits) mismatches.push(bits);
    }
    expect(mismatches).toEqual([]);
    expect(Number.isNaN(float16BitsToFloat32(0x7e00))).toBe(true);
    expect(float16BitsToFloat32(0xfc00)).toBe(-Infinity);
  });

  it("converts whole arrays exactly as it converts single values, from any offset into a buffer", () => {
    const specials = [0, -0, 1, -2, 65504, 65520, Infinity, -Infinity, Number.NaN, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 1 + 2 ** -11, 0.1, 1e-30, -1e30];
    const random = Array.from({ length: 4000 }, (_, i) => Math.sin(i * 12.9898) * 10 ** ((i % 13) - 6));
    const backing = new Float32Array([7, ...specials, ...random]);
    // A view that starts one float into its buffer, as a subarray handed to run() would.
    const values = backing.subarray(1);
    expect(Array.from(float32ArrayToFloat16Bits(values))).toEqual(Array.from(values, float32ToFloat16Bits));
    const ids = Int32Array.of(0, 1, -3, 70000);
    expect(Array.from(float32ArrayToFloat16Bits(ids))).toEqual(Array.from(ids, float32ToFloat16Bits));
  });

  it("decodes whole arrays of halves exactly as single ones, every bit pattern", () => {
    const patterns = Uint16Array.from({ length: 0x10000 }, (_, bits) => bits);
    const decoded = float16BitsToFloat32Array(patterns);
    const mismatches = Array.from(patterns).filter((bits) => !Object.is(decoded[bits], Math.fround(float16BitsToFloat32(bits))));
    expect(mismatches).toEqual([]);
  });
});

describe("float16 array conversion", () => {
  it("takes the branch-free path for normal halves with the same bits as the per-value rounding, at every exponent", () => {
    // Every float32 exponent, each with mantissas at and around every rounding boundary of the 13 bits dropped.
    const mantissas = [0, 1, 0xfff, 0x1000, 0x1001, 0x1fff, 0x2000, 0x3000, 0x5000, 0x7fe000, 0x7fefff, 0x7ff000, 0x7ff001, 0x7fffff];
    const patterns: number[] = [];
    for (let exponent = 0; exponent < 256; exponent++) {
      for (const mantissa of mantissas) for (const sign of [0, 0x80000000]) patterns.push((sign | (exponent << 23) | mantissa) >>> 0);
    }
    // And a sweep of 2^20 patterns evenly over all 2^32.
    for (let i = 0; i < 2 ** 20; i++) patterns.push((i * 4096 + (i % 4093)) >>> 0);
    const values = new Float32Array(Uint32Array.from(patterns).buffer);
    const halves = float32ArrayToFloat16Bits(values);
    const mismatches = patterns.filter((_, i) => halves[i] !== float32ToFloat16Bits(values[i]));
    expect(mismatches.map((bits) => bits.toString(16)).slice(0, 10)).toEqual([]);
  });

  it("writes into a given array, and refuses one of the wrong length", () => {
    const values = Float32Array.of(1, -2, 0.1);
    const into = new Uint16Array(3);
    expect(float32ArrayToFloat16Bits(values, into)).toBe(into);
    expect(Array.from(into)).toEqual([0x3c00, 0xc000, 0x2e66]);
    const back = new Float32Array(3);
    expect(float16BitsToFloat32Array(into, back)).toBe(back);
    expect(Array.from(back)).toEqual([1, -2, Math.fround(float16BitsToFloat32(0x2e66))]);
    expect(() => float32ArrayToFloat16Bits(values, new Uint16Array(2))).toThrow(/3 values into an array of 2/);
    expect(() => float16BitsToFloat32Array(into, new Float32Array(4))).toThrow(/3 values into an array of 4/);
  });
});
