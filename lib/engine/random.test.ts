import { describe, expect, it } from "vitest";
import { EngineError } from "./errors";
import { Rng } from "./random";

// An independent, slow reference in BigInt arithmetic: SplitMix64 and
// xoshiro128** exactly as published, checked below against their authors' test vectors.
const MASK64 = (1n << 64n) - 1n;
const MASK32 = (1n << 32n) - 1n;

function referenceSplitMix64(seed: bigint, count: number): bigint[] {
  let state = BigInt.asUintN(64, seed);
  const outputs: bigint[] = [];
  for (let i = 0; i < count; i++) {
    state = (state + 0x9e3779b97f4a7c15n) & MASK64;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
    outputs.push(z ^ (z >> 31n));
  }
  return outputs;
}

function referenceXoshiro128StarStar(state: bigint[], count: number): number[] {
  const s = [...state];
  const rotl = (x: bigint, k: bigint) => ((x << k) | (x >> (32n - k))) & MASK32;
  const outputs: number[] = [];
  for (let i = 0; i < count; i++) {
    outputs.push(Number((rotl((s[1] * 5n) & MASK32, 7n) * 9n) & MASK32));
    const t = (s[1] << 9n) & MASK32;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11n);
  }
  return outputs;
}

function referenceOutputs(seed: bigint, count: number): number[] {
  const [first, second] = referenceSplitMix64(seed, 2);
  return referenceXoshiro128StarStar([first & MASK32, first >> 32n, second & MASK32, second >> 32n], count);
}

function draw(rng: Rng, count: number, next: (r: Rng) => number): Float64Array {
  const values = new Float64Array(count);
  for (let i = 0; i < count; i++) values[i] = next(rng);
  return values;
}

function mean(values: Float64Array): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

function centralMoment(values: Float64Array, order: number): number {
  const m = mean(values);
  return values.reduce((sum, v) => sum + (v - m) ** order, 0) / values.length;
}

/** Pearson chi-square of counts against equal expected counts. */
function chiSquareUniform(counts: number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const expected = total / counts.length;
  return counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
}

// 99 degrees of freedom, upper 0.1% point.
const CHI_SQUARE_99_AT_0_001 = 148.23;

describe("reference generator (validates the test oracle itself)", () => {
  it("reproduces the published SplitMix64 vector for seed 1234567", () => {
    expect(referenceSplitMix64(1234567n, 5)).toEqual([
      6457827717110365317n,
      3203168211198807973n,
      9817491932198370423n,
      4593380528125082431n,
      16408922859458223821n,
    ]);
  });

  it("reproduces the published xoshiro128** vector for state [1, 2, 3, 4]", () => {
    expect(referenceXoshiro128StarStar([1n, 2n, 3n, 4n], 10)).toEqual([
      11520, 0, 5927040, 70819200, 2031721883, 1637235492, 1287239034, 3734860849, 3729100597, 4258142804,
    ]);
  });
});

describe("Rng", () => {
  it("matches the reference for several seeds, including negative and 64-bit ones", () => {
    const seeds: Array<[number | bigint, bigint]> = [
      [0, 0n],
      [1, 1n],
      [42, 42n],
      [-1, MASK64],
      [Number.MAX_SAFE_INTEGER, BigInt(Number.MAX_SAFE_INTEGER)],
      [0xfedcba9876543210n, 0xfedcba9876543210n],
    ];
    for (const [seed, key] of seeds) {
      const rng = new Rng(seed);
      expect(Array.from(draw(rng, 1000, (r) => r.uint32()))).toEqual(referenceOutputs(key, 1000));
    }
  });

  it("is reproducible bit for bit", () => {
    const mixed = (r: Rng) => [r.uniform(), r.normal(), r.uint32(), r.normal(), r.normal()];
    const a = new Rng(2024);
    const b = new Rng(2024);
    for (let i = 0; i < 200; i++) expect(mixed(a)).toEqual(mixed(b));
    expect(new Rng(2025).uniform()).not.toBe(new Rng(2024).uniform());
  });

  it("rejects seeds that are not safe integers", () => {
    for (const seed of [1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60]) {
      expect(() => new Rng(seed)).toThrow(EngineError);
    }
  });

  it("draws uniforms strictly inside (0, 1) with the right moments and flat buckets", () => {
    const n = 100_000;
    const values = draw(new Rng(11), n, (r) => r.uniform());
    expect(values.reduce((a, b) => Math.min(a, b))).toBeGreaterThan(0);
    expect(values.reduce((a, b) => Math.max(a, b))).toBeLessThan(1);
    // Standard errors: sqrt(1/12/n) for the mean, sqrt(1/180/n) for the variance.
    expect(Math.abs(mean(values) - 0.5)).toBeLessThan(5 * Math.sqrt(1 / 12 / n));
    expect(Math.abs(centralMoment(values, 2) - 1 / 12)).toBeLessThan(5 * Math.sqrt(1 / 180 / n));
    const counts = new Array<number>(100).fill(0);
    for (const v of values) counts[Math.floor(v * 100)]++;
    expect(chiSquareUniform(counts)).toBeLessThan(CHI_SQUARE_99_AT_0_001);
  });

  it("has no lag-1 structure: consecutive pairs fill a 10×10 grid evenly", () => {
    const values = draw(new Rng(12), 40_000, (r) => r.uniform());
    const counts = new Array<number>(100).fill(0);
    for (let i = 0; i < values.length; i += 2) {
      counts[Math.floor(values[i] * 10) * 10 + Math.floor(values[i + 1] * 10)]++;
    }
    expect(chiSquareUniform(counts)).toBeLessThan(CHI_SQUARE_99_AT_0_001);
  });

  it("draws standard normals: mean 0, variance 1, kurtosis 3, 68.27% within one sigma", () => {
    const n = 100_000;
    const values = draw(new Rng(13), n, (r) => r.normal());
    expect(Math.abs(mean(values))).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(centralMoment(values, 2) - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    expect(Math.abs(centralMoment(values, 3))).toBeLessThan(5 * Math.sqrt(15 / n));
    expect(Math.abs(centralMoment(values, 4) - 3)).toBeLessThan(5 * Math.sqrt(96 / n));
    const withinOne = values.filter((v) => Math.abs(v) < 1).length / n;
    expect(Math.abs(withinOne - 0.682689492137)).toBeLessThan(5 * Math.sqrt(0.2173 / n));
    const withinTwo = values.filter((v) => Math.abs(v) < 2).length / n;
    expect(Math.abs(withinTwo - 0.954499736104)).toBeLessThan(5 * Math.sqrt(0.0434 / n));
  });

  it("fillNormal gives the same values as successive normal() calls", () => {
    const filled = new Float32Array(9);
    new Rng(5).fillNormal(filled);
    const single = new Rng(5);
    expect(Array.from(filled)).toEqual(Array.from(draw(single, 9, (r) => Math.fround(r.normal()))));
  });
});

describe("Rng.fork", () => {
  it("is reproducible and does not depend on how much the parent has drawn", () => {
    const fresh = new Rng(99);
    const used = new Rng(99);
    draw(used, 1234, (r) => r.normal());
    expect(Array.from(draw(used.fork(3), 50, (r) => r.uint32()))).toEqual(
      Array.from(draw(fresh.fork(3), 50, (r) => r.uint32())),
    );
  });

  it("gives different sequences for different streams, parents and depths", () => {
    const root = new Rng(99);
    const firstOutputs = [
      root,
      root.fork(0),
      root.fork(1),
      root.fork(2),
      new Rng(100).fork(0),
      root.fork(0).fork(0),
      root.fork(0).fork(1),
    ].map((r) => draw(r, 4, (g) => g.uint32()).join(","));
    expect(new Set(firstOutputs).size).toBe(firstOutputs.length);
  });

  it("gives children that look independent of each other", () => {
    const root = new Rng(7);
    const n = 20_000;
    const a = draw(root.fork(0), n, (r) => r.uniform());
    const b = draw(root.fork(1), n, (r) => r.uniform());
    const ma = mean(a);
    const mb = mean(b);
    let covariance = 0;
    for (let i = 0; i < n; i++) covariance += (a[i] - ma) * (b[i] - mb);
    const correlation = covariance / Math.sqrt(centralMoment(a, 2) * centralMoment(b, 2)) / n;
    expect(Math.abs(correlation)).toBeLessThan(4 / Math.sqrt(n));
    const counts = new Array<number>(100).fill(0);
    for (let i = 0; i < n; i++) counts[Math.floor(a[i] * 10) * 10 + Math.floor(b[i] * 10)]++;
    expect(chiSquareUniform(counts)).toBeLessThan(CHI_SQUARE_99_AT_0_001);
  });

  it("rejects negative or fractional streams", () => {
    const root = new Rng(1);
    expect(() => root.fork(-1)).toThrow(EngineError);
    expect(() => root.fork(0.5)).toThrow(EngineError);
  });
});
