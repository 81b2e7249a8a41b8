import { describe, expect, it } from "vitest";
import { angleBetween, LAMBDA_CAP, lambdaAtAngle, preDecoder, quantileOfSorted, referenceAngles, shareBelow } from "./geometry";
import { Rng } from "./random";

function randomVector(dim: number, rng: Rng, scale = 1): Float64Array {
  return Float64Array.from({ length: dim }, () => scale * rng.normal());
}

const along = (a: Float64Array, d: Float64Array, lambda: number) => Float64Array.from(a, (v, j) => v + lambda * d[j]);

describe("angleBetween", () => {
  it("measures right angles, opposites and tiny angles exactly", () => {
    expect(angleBetween([1, 0], [0, 2])).toBeCloseTo(Math.PI / 2, 15);
    expect(angleBetween([1, 1], [-2, -2])).toBeCloseTo(Math.PI, 12);
    // acos(cos θ) would round a 1e-9 angle to 0; the cross-product form keeps it.
    expect(angleBetween([1, 0], [1, 1e-9])).toBeCloseTo(1e-9, 18);
  });
});

describe("lambdaAtAngle", () => {
  it("places the ray's point exactly at the asked angle", () => {
    const rng = new Rng(3);
    for (let trial = 0; trial < 20; trial++) {
      const a = randomVector(64, rng, 2);
      const d = randomVector(64, rng, 0.5);
      const reach = angleBetween(d, a);
      for (const fraction of [0.1, 0.5, 0.9, 0.99]) {
        const target = fraction * reach;
        const { lambda, reached } = lambdaAtAngle(a, d, target);
        expect(reached).toBe(true);
        expect(lambda).toBeGreaterThan(0);
        expect(angleBetween(along(a, d, lambda), a)).toBeCloseTo(target, 9);
      }
    }
  });

  it("gives λ = 1 back for the angle of the point at λ = 1", () => {
    const rng = new Rng(4);
    const a = randomVector(16, rng, 3);
    const d = randomVector(16, rng);
    const { lambda } = lambdaAtAngle(a, d, angleBetween(along(a, d, 1), a));
    expect(lambda).toBeCloseTo(1, 10);
  });

  it("grows monotonically with the angle", () => {
    const rng = new Rng(5);
    const a = randomVector(32, rng, 2);
    const d = randomVector(32, rng);
    const reach = angleBetween(d, a);
    const lambdas = [0, 0.2, 0.4, 0.6, 0.8].map((f) => lambdaAtAngle(a, d, f * reach).lambda);
    lambdas.forEach((lambda, i) => i > 0 && expect(lambda).toBeGreaterThan(lambdas[i - 1]));
    expect(lambdas[0]).toBe(0);
  });

  it("caps an angle beyond the column's reach and says so", () => {
    const a = Float64Array.from([1, 0]);
    const d = Float64Array.from([0, 1]); // reach: 90°
    expect(lambdaAtAngle(a, d, Math.PI / 3).reached).toBe(true);
    expect(lambdaAtAngle(a, d, (95 * Math.PI) / 180)).toEqual({ lambda: LAMBDA_CAP, reached: false });
  });
});

describe("reference angles", () => {
  const dist = { mu: [0.5, -0.25, 1, 0], alpha: [0.1, 0.2, 0.3, 0.05], beta: [2, 1, 0.7, 3] };

  it("are sorted, reproducible from the seed, and shifted before they are measured", () => {
    const shift = [0.1, 0.2, -0.3, 0.4];
    const first = referenceAngles(dist, shift, new Rng(9).fork(2), 64);
    expect(Array.from(referenceAngles(dist, shift, new Rng(9).fork(2), 64))).toEqual(Array.from(first));
    first.forEach((v, i) => i > 0 && expect(v).toBeGreaterThanOrEqual(first[i - 1]));
    const unshifted = referenceAngles(dist, [0, 0, 0, 0], new Rng(9).fork(2), 64);
    expect(Array.from(unshifted)).not.toEqual(Array.from(first));
    expect(Array.from(preDecoder([1, 2], [0.5, -1]))).toEqual([1.5, 1]);
  });

  it("give quantiles and shares that invert each other", () => {
    const sorted = Float64Array.from([1, 2, 3, 4, 5]);
    expect(quantileOfSorted(sorted, 0.5)).toBe(3);
    expect(quantileOfSorted(sorted, 0.95)).toBeCloseTo(4.8, 12);
    expect(shareBelow(sorted, 0)).toBe(0);
    expect(shareBelow(sorted, 3)).toBe(0.4);
    expect(shareBelow(sorted, 3.5)).toBe(0.6);
    expect(shareBelow(sorted, 9)).toBe(1);
  });
});
