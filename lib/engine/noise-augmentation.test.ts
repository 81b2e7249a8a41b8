import { describe, expect, it } from "vitest";
import { classLabels, cosineAlphasCumprod, noiseAugment, timestepEmbedding } from "./noise-augmentation";

const identity = (D: number) => ({ mean: new Float32Array(D), std: new Float32Array(D).fill(1) });

describe("cosineAlphasCumprod (squaredcos_cap_v2)", () => {
  it.each([
    [0, 0.999979, 0.006425],
    [100, 0.985685, 0.168595],
    [250, 0.919722, 0.392571],
    [500, 0.70163, 0.712541],
  ])("level %i: √ā = %f, √(1−ā) = %f", (level, signal, noise) => {
    const a = cosineAlphasCumprod()[level];
    expect(Math.abs(Math.sqrt(a) - signal)).toBeLessThan(1e-6);
    expect(Math.abs(Math.sqrt(1 - a) - noise)).toBeLessThan(1e-6);
  });

  it("has 1000 decreasing values by default", () => {
    const a = cosineAlphasCumprod();
    expect(a).toHaveLength(1000);
    expect(a.every((v, i) => i === 0 || v < a[i - 1])).toBe(true);
  });
});

describe("noiseAugment", () => {
  it("is √ā e + √(1−ā) ε for an identity normaliser, row by row", () => {
    const a = cosineAlphasCumprod()[250];
    const e = Float32Array.from([0.5, -1, 2, 0, 0.25, -0.75]);
    const noise = Float32Array.from([1, 0.5, -2, 1.5, 0, -1]);
    const out = noiseAugment(e, 3, 250, identity(3), noise);
    out.forEach((v, i) => expect(v).toBeCloseTo(Math.sqrt(a) * e[i] + Math.sqrt(1 - a) * noise[i], 6));
  });

  it("is nearly the identity at level 0 without noise", () => {
    const e = Float32Array.from([0.3, -2, 7]);
    const out = noiseAugment(e, 3, 0, identity(3), new Float32Array(3));
    out.forEach((v, i) => expect(Math.abs(v / e[i] - 1)).toBeLessThan(3e-5));
  });

  it("noises in normalised space: mean kept, noise scaled by std", () => {
    const a = cosineAlphasCumprod()[500];
    const normalizer = { mean: [1, -2], std: [0.5, 4] };
    // An embedding equal to the mean normalises to 0, so only √(1−ā)·ε·std is added.
    const atMean = noiseAugment(Float32Array.from([1, -2]), 2, 500, normalizer, Float32Array.from([1, -1]));
    expect(atMean[0]).toBeCloseTo(1 + 0.5 * Math.sqrt(1 - a), 6);
    expect(atMean[1]).toBeCloseTo(-2 - 4 * Math.sqrt(1 - a), 6);
    // Without noise the offset from the mean shrinks by √ā.
    const noiseless = noiseAugment(Float32Array.from([3, 6]), 2, 500, normalizer, new Float32Array(2));
    expect(noiseless[0]).toBeCloseTo(1 + 2 * Math.sqrt(a), 6);
    expect(noiseless[1]).toBeCloseTo(-2 + 8 * Math.sqrt(a), 6);
  });

  it("rejects bad levels and mismatched inputs", () => {
    const e = new Float32Array(4);
    for (const level of [-1, 1000, 2.5]) {
      expect(() => noiseAugment(e, 2, level, identity(2), e)).toThrow(/level must be an integer from 0 to 999/);
    }
    expect(() => noiseAugment(e, 2, 1000, identity(2), e)).toThrow(expect.objectContaining({ code: "invalid_input" }));
    expect(() => noiseAugment(e, 3, 0, identity(3), e)).toThrow(/not a batch of D = 3/);
    expect(() => noiseAugment(e, 2, 0, identity(2), new Float32Array(2))).toThrow(/noise has 2 values/);
    expect(() => noiseAugment(e, 2, 0, identity(3), e)).toThrow(/need 2 values/);
    expect(() => noiseAugment(e, 2, 0, { mean: [0, 0], std: [1, 0] }, e)).toThrow(/std\[1\] = 0/);
    expect(() => noiseAugment(e, 2, 0, identity(3), e)).toThrow(expect.objectContaining({ code: "invalid_preset" }));
  });
});

describe("timestepEmbedding", () => {
  it("puts cos first: emb[0] = cos(n), emb[D/2] = sin(n), frequencies 10000^(−i/(D/2))", () => {
    const n = 37;
    const emb = timestepEmbedding(n, 8);
    expect(emb[0]).toBeCloseTo(Math.cos(n), 6);
    expect(emb[4]).toBeCloseTo(Math.sin(n), 6);
    // D = 8: f_i = 10000^(−i/4) = 1, 0.1, 0.01, 0.001.
    [1, 0.1, 0.01, 0.001].forEach((f, i) => {
      expect(emb[i]).toBeCloseTo(Math.cos(n * f), 6);
      expect(emb[4 + i]).toBeCloseTo(Math.sin(n * f), 6);
    });
  });

  it("is [1…1, 0…0] at level 0 and pads odd widths with a 0", () => {
    expect(Array.from(timestepEmbedding(0, 6))).toEqual([1, 1, 1, 0, 0, 0]);
    const odd = timestepEmbedding(5, 5);
    expect(odd).toHaveLength(5);
    expect(odd[0]).toBeCloseTo(Math.cos(5), 6);
    expect(odd[2]).toBeCloseTo(Math.sin(5), 6);
    expect(odd[4]).toBe(0);
  });

  it("agrees with diffusers' float32 get_timestep_embedding within its rounding", () => {
    // Indices 1, 3, 513, 515, 1023 of get_timestep_embedding([n], 1024, True, 0) in torch.
    const cases = [
      [250, [0.8781851, -0.3187118, 0.478321, -0.9478517, 0.025451]],
      [999, [0.5294966, -0.6242201, 0.8483121, -0.7812486, 0.1015381]],
    ] as const;
    for (const [n, want] of cases) {
      const emb = timestepEmbedding(n, 1024);
      [1, 3, 513, 515, 1023].forEach((j, k) => expect(Math.abs(emb[j] - want[k])).toBeLessThan(1e-4));
    }
  });
});

describe("classLabels", () => {
  it("concatenates each row with the level's embedding: [B, 2D]", () => {
    const aug = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const labels = classLabels(aug, 100, 4);
    const emb = Array.from(timestepEmbedding(100, 4));
    expect(labels).toHaveLength(16);
    expect(Array.from(labels)).toEqual([1, 2, 3, 4, ...emb, 5, 6, 7, 8, ...emb]);
  });

  it("rejects a buffer that is not B×D", () => {
    expect(() => classLabels(new Float32Array(5), 0, 4)).toThrow(/not a batch of D = 4/);
  });
});
