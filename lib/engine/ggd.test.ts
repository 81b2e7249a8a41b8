import { describe, expect, it } from "vitest";
import { EngineError } from "./errors";
import {
  aleatoricUncertainty,
  aleatoricVariance,
  drawShellDirection,
  gamma,
  type GgdParams,
  headsToParams,
  inverseRegularizedGammaP,
  lgamma,
  likelihoodRadius,
  negativeLogLikelihood,
  percentileOf,
  placeOnShell,
  radiusShape,
  regularizedGammaP,
  regularizedGammaQ,
  sampleGamma,
  sampleGgd,
  sampleLogGamma,
  sampleShell,
  validateGgdParams,
} from "./ggd";
import { Rng } from "./random";

function expectRelativelyClose(actual: number, expected: number, tolerance: number): void {
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(tolerance * Math.abs(expected));
}

/** Kolmogorov–Smirnov distance between a sample and a continuous CDF. */
function ksDistance(samples: ArrayLike<number>, cdf: (x: number) => number): number {
  const sorted = Float64Array.from(samples).sort();
  const n = sorted.length;
  let distance = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(sorted[i]);
    distance = Math.max(distance, f - i / n, (i + 1) / n - f);
  }
  return distance;
}

/** KS critical distance at significance 0.001 (asymptotic: sqrt(−ln(0.0005)/2)/√n). */
function ksCritical(n: number): number {
  return 1.9494746 / Math.sqrt(n);
}

/** The GGD CDF, derived from P: F(x) = ½ + ½·sign(x−μ)·P(1/β, (|x−μ|/α)^β). */
function ggdCdf(x: number, mu: number, alpha: number, beta: number): number {
  return 0.5 + 0.5 * Math.sign(x - mu) * regularizedGammaP(1 / beta, (Math.abs(x - mu) / alpha) ** beta);
}

function constantParams(dim: number, mu: number, alpha: number, beta: number): GgdParams {
  return {
    mu: new Float64Array(dim).fill(mu),
    alpha: new Float64Array(dim).fill(alpha),
    beta: new Float64Array(dim).fill(beta),
  };
}

/** A realistic distribution: μ ~ N(0, 0.05²), α ~ U[0.01, 0.2], β ~ U[betaLo, betaHi]. */
function randomParams(dim: number, seed: number, betaLo: number, betaHi: number): GgdParams {
  const rng = new Rng(seed);
  const mu = new Float64Array(dim);
  const alpha = new Float64Array(dim);
  const beta = new Float64Array(dim);
  for (let j = 0; j < dim; j++) {
    mu[j] = 0.05 * rng.normal();
    alpha[j] = 0.01 + 0.19 * rng.uniform();
    beta[j] = betaLo + (betaHi - betaLo) * rng.uniform();
  }
  return { mu, alpha, beta };
}

describe("lgamma and gamma", () => {
  it("match known values", () => {
    expectRelativelyClose(gamma(0.5), Math.sqrt(Math.PI), 1e-14);
    expectRelativelyClose(gamma(5), 24, 1e-14);
    expectRelativelyClose(lgamma(100), 359.1342053695754, 1e-14);
    expectRelativelyClose(gamma(1 / 3), 2.678938534707747, 1e-14);
    expectRelativelyClose(gamma(0.1), 9.513507698668732, 1e-14);
    expect(Math.abs(lgamma(1.5) - Math.log(Math.sqrt(Math.PI) / 2))).toBeLessThan(3e-15);
    expect(Math.abs(lgamma(1))).toBeLessThan(3e-15);
    expect(Math.abs(lgamma(2))).toBeLessThan(3e-15);
  });

  it("equals ln n! = Σ ln i for n up to 1000", () => {
    let logFactorial = 0;
    for (let n = 1; n <= 1000; n++) {
      logFactorial += Math.log(n);
      expect(Math.abs(lgamma(n + 1) - logFactorial)).toBeLessThanOrEqual(1e-13 * Math.max(1, logFactorial));
    }
  });

  it("satisfies Γ(x+1) = xΓ(x) and the duplication formula across the shift threshold", () => {
    for (let x = 0.05; x < 40; x *= 1.13) {
      expect(Math.abs(lgamma(x + 1) - lgamma(x) - Math.log(x))).toBeLessThan(1e-13 * Math.max(1, lgamma(x + 1)));
      // Γ(x) Γ(x + ½) = 2^(1−2x) √π Γ(2x)
      const duplication = (1 - 2 * x) * Math.LN2 + 0.5 * Math.log(Math.PI) + lgamma(2 * x);
      expect(Math.abs(lgamma(x) + lgamma(x + 0.5) - duplication)).toBeLessThan(1e-13 * Math.max(1, Math.abs(duplication)));
    }
  });

  it("is NaN outside x > 0", () => {
    expect(lgamma(0)).toBeNaN();
    expect(lgamma(-1.5)).toBeNaN();
    expect(lgamma(Number.NaN)).toBeNaN();
  });
});

describe("regularized incomplete gamma", () => {
  it("P(1, x) = 1 − e^(−x), with the upper tail Q kept to full relative precision", () => {
    for (const x of [0.01, 0.5, 1, 3, 10, 40]) {
      expectRelativelyClose(regularizedGammaP(1, x), -Math.expm1(-x), 1e-13);
      expectRelativelyClose(regularizedGammaQ(1, x), Math.exp(-x), 1e-13);
    }
  });

  it("P(½, x) = erf(√x)", () => {
    expectRelativelyClose(regularizedGammaP(0.5, 0.25), 0.5204998778130465, 1e-13);
    expectRelativelyClose(regularizedGammaP(0.5, 1), 0.8427007929497149, 1e-13);
    expectRelativelyClose(regularizedGammaP(0.5, 4), 0.9953222650189527, 1e-13);
    expectRelativelyClose(regularizedGammaQ(0.5, 9), 2.2090496998585445e-5, 1e-12);
  });

  it("matches the Poisson sum Q(n, x) = e^(−x) Σ_{i<n} x^i / i! for integer n", () => {
    for (const n of [3, 10, 30, 100]) {
      for (const x of [0.5 * n, n, n + 1, 1.5 * n]) {
        let q = 0;
        for (let i = 0; i < n; i++) q += Math.exp(-x + i * Math.log(x) - lgamma(i + 1));
        expectRelativelyClose(regularizedGammaQ(n, x), q, 1e-12);
        expect(Math.abs(regularizedGammaP(n, x) - (1 - q))).toBeLessThan(1e-13);
      }
    }
  });

  it("satisfies P(a, x) − P(a+1, x) = x^a e^(−x) / Γ(a+1) for large a, on both sides of x = a + 1", () => {
    for (const a of [50.5, 1000, 1e4, 1e5]) {
      for (const offset of [-2, -0.5, 0, 0.5, 2]) {
        const x = a + 1 + offset * Math.sqrt(a);
        const difference = regularizedGammaQ(a + 1, x) - regularizedGammaQ(a, x);
        // The direct log form loses ~a·1e-16 absolute; fine for checking against the stable one.
        const expected = Math.exp(a * Math.log(x) - x - lgamma(a + 1));
        expectRelativelyClose(difference, expected, 1e-9);
      }
    }
  });

  it("handles the ends of its domain", () => {
    expect(regularizedGammaP(2, 0)).toBe(0);
    expect(regularizedGammaP(2, Number.POSITIVE_INFINITY)).toBe(1);
    expect(regularizedGammaQ(2, 0)).toBe(1);
    expect(regularizedGammaP(0, 1)).toBeNaN();
    expect(regularizedGammaP(1, -1)).toBeNaN();
  });
});

describe("inverseRegularizedGammaP", () => {
  it("matches known Gamma quantiles (chi-square tables: Gamma(ν/2) = χ²_ν / 2)", () => {
    expectRelativelyClose(inverseRegularizedGammaP(1, 0.5), Math.LN2, 1e-14);
    expect(Math.abs(inverseRegularizedGammaP(5, 0.95) - 18.307038 / 2)).toBeLessThan(1e-6);
    expect(Math.abs(inverseRegularizedGammaP(0.5, 0.95) - 3.841459 / 2)).toBeLessThan(1e-6);
    expect(Math.abs(inverseRegularizedGammaP(50, 0.99) - 135.8067 / 2)).toBeLessThan(1e-4);
  });

  it("inverts P for k = 1000 and agrees with Wilson–Hilferty within 0.1%", () => {
    const k = 1000;
    const z99 = 2.3263478740408408;
    for (const [q, z] of [
      [0.01, -z99],
      [0.99, z99],
    ]) {
      const x = inverseRegularizedGammaP(k, q);
      expect(Math.abs(regularizedGammaP(k, x) - q)).toBeLessThan(1e-10);
      const wilsonHilferty = k * (1 - 1 / (9 * k) + z / (3 * Math.sqrt(k))) ** 3;
      expectRelativelyClose(x, wilsonHilferty, 1e-3);
    }
  });

  it("round-trips P(a, P⁻¹(a, q)) = q for a from 0.1 to 1e5", () => {
    for (const a of [0.1, 0.3, 0.68, 1, 2.5, 10, 100, 1000, 1e4, 1e5]) {
      for (const q of [1e-10, 1e-4, 0.01, 0.3, 0.5, 0.7, 0.99, 1 - 1e-6]) {
        const x = inverseRegularizedGammaP(a, q);
        if (q <= 0.5) expectRelativelyClose(regularizedGammaP(a, x), q, 1e-10);
        else expectRelativelyClose(regularizedGammaQ(a, x), 1 - q, 1e-10);
      }
    }
  });

  it("handles the ends of its domain", () => {
    expect(inverseRegularizedGammaP(3, 0)).toBe(0);
    expect(inverseRegularizedGammaP(3, 1)).toBe(Number.POSITIVE_INFINITY);
    expect(inverseRegularizedGammaP(3, 1.5)).toBeNaN();
    expect(inverseRegularizedGammaP(-1, 0.5)).toBeNaN();
  });
});

describe("Gamma sampling", () => {
  it("follows Gamma(k, 1) (KS against P) for shapes below and above 1", () => {
    const n = 3000;
    const rng = new Rng(31);
    for (const shape of [0.1, 0.5, 1, 2.5, 10]) {
      const samples = Array.from({ length: n }, () => sampleGamma(shape, rng));
      expect(ksDistance(samples, (x) => regularizedGammaP(shape, x))).toBeLessThan(ksCritical(n));
    }
  });

  it("keeps tiny shapes finite in log space where G itself underflows", () => {
    const n = 3000;
    const shape = 0.002;
    const rng = new Rng(32);
    const logs = Array.from({ length: n }, () => sampleLogGamma(shape, rng));
    expect(logs.every(Number.isFinite)).toBe(true);
    expect(logs.some((y) => Math.exp(y) === 0)).toBe(true);
    // Where e^y underflows, P(a, x) = x^a / Γ(a+1) · (1 + O(x)) in logs.
    const cdf = (y: number) => (y < -700 ? Math.exp(shape * y - lgamma(shape + 1)) : regularizedGammaP(shape, Math.exp(y)));
    expect(ksDistance(logs, cdf)).toBeLessThan(ksCritical(n));
  });

  it("rejects shapes that are not finite and positive", () => {
    const rng = new Rng(1);
    for (const shape of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => sampleLogGamma(shape, rng)).toThrow(EngineError);
    }
  });
});

describe("GGD draws", () => {
  const n = 5000;
  for (const beta of [0.5, 0.68, 1, 2, 4]) {
    it(`match the exact CDF and variance for β = ${beta}`, () => {
      const mu = 0.3;
      const alpha = 0.7;
      const samples = sampleGgd(constantParams(n, mu, alpha, beta), new Rng(Math.round(beta * 100)));
      expect(ksDistance(samples, (x) => ggdCdf(x, mu, alpha, beta))).toBeLessThan(ksCritical(n));

      const variance = aleatoricVariance({ alpha: [alpha], beta: [beta] })[0];
      const sampleMean = samples.reduce((s, x) => s + x, 0) / n;
      const sampleVariance = samples.reduce((s, x) => s + (x - sampleMean) ** 2, 0) / (n - 1);
      // Standard error of a sample variance: σ² √((κ − 1)/n), κ = Γ(5/β)Γ(1/β)/Γ(3/β)² for a GGD.
      const kurtosis = Math.exp(lgamma(5 / beta) + lgamma(1 / beta) - 2 * lgamma(3 / beta));
      expect(Math.abs(sampleVariance - variance)).toBeLessThan(5 * variance * Math.sqrt((kurtosis - 1) / n));
    });
  }

  it("are reproducible for a seed", () => {
    const params = randomParams(32, 3, 0.1, 5);
    expect(sampleGgd(params, new Rng(8))).toEqual(sampleGgd(params, new Rng(8)));
  });
});

describe("uncertainty", () => {
  it("gives the closed-form variances of the Laplace, Gaussian and β = ½ cases", () => {
    const alpha = [0.3, 0.3, 0.3];
    const variance = aleatoricVariance({ alpha, beta: [1, 2, 0.5] });
    expectRelativelyClose(variance[0], 2 * 0.09, 1e-13); // Laplace with scale α
    expectRelativelyClose(variance[1], 0.09 / 2, 1e-13); // Gaussian with σ = α/√2
    expectRelativelyClose(variance[2], 120 * 0.09, 1e-13); // Γ(6)/Γ(2)
    expectRelativelyClose(aleatoricUncertainty({ alpha, beta: [1, 2, 0.5] }), (0.18 + 0.045 + 10.8) / 3, 1e-13);
  });

  it("stays finite at the clamp limits (β = 0.1, α = 5)", () => {
    expect(Number.isFinite(aleatoricVariance({ alpha: [5], beta: [0.1] })[0])).toBe(true);
  });
});

describe("headsToParams", () => {
  const config = { alphaEps: 1e-4, betaEps: 1e-4, alphaClamp: [1e-4, 5], betaClamp: [0.1, 5] } as const;

  it("applies the eps and then the clamps", () => {
    const dist = headsToParams([0.25, -1, 3], [0, 1, 1e6], [0, 2, 10], config);
    expect(Array.from(dist.mu)).toEqual([0.25, -1, 3]);
    expect(Array.from(dist.alpha)).toEqual([5, Math.fround(1 / 1.0001), Math.fround(1e-4)]);
    expect(Array.from(dist.beta)).toEqual([Math.fround(0.1), Math.fround(2.0001), 5]);
    expect(dist.alpha).toBeInstanceOf(Float32Array);
  });

  it("reports mismatched or non-finite heads as model errors", () => {
    expect(() => headsToParams([0, 0], [1], [1, 1], config)).toThrow(
      expect.objectContaining({ code: "model_error" }),
    );
    expect(() => headsToParams([0], [Number.NaN], [1], config)).toThrow(
      expect.objectContaining({ code: "model_error" }),
    );
  });
});

describe("percentileOf", () => {
  const linear = Array.from({ length: 101 }, (_, i) => i / 10);

  it("interpolates linearly and clamps to [0, 100]", () => {
    expectRelativelyClose(percentileOf(3.75, linear), 37.5, 1e-12);
    expect(percentileOf(-1, linear)).toBe(0);
    expect(percentileOf(11, linear)).toBe(100);
    expect(percentileOf(0, linear)).toBe(0);
    expect(percentileOf(10, linear)).toBe(100);
    const squares = Array.from({ length: 101 }, (_, i) => (i / 100) ** 2);
    expectRelativelyClose(percentileOf(0.25, squares), 50, 1e-12);
  });

  it("puts a value equal to tied quantiles in the middle of the tie", () => {
    expect(percentileOf(1, [0, 1, 1, 1, 2])).toBe(50);
  });

  it("rejects reference lists that are too short, unsorted or not finite", () => {
    for (const quantiles of [[1], [0, 2, 1], [0, Number.NaN, 1]]) {
      expect(() => percentileOf(0.5, quantiles)).toThrow(EngineError);
    }
    expect(() => percentileOf(Number.NaN, linear)).toThrow(EngineError);
  });
});

describe("likelihood radius and NLL", () => {
  it("NLL equals −Σ ln p(x_j) computed from the density directly", () => {
    const params = randomParams(16, 5, 0.3, 4);
    const x = sampleGgd(params, new Rng(6));
    let direct = 0;
    for (let j = 0; j < 16; j++) {
      const mu = params.mu[j];
      const alpha = params.alpha[j];
      const beta = params.beta[j];
      const density = (beta / (2 * alpha * gamma(1 / beta))) * Math.exp(-((Math.abs(x[j] - mu) / alpha) ** beta));
      direct -= Math.log(density);
    }
    expectRelativelyClose(negativeLogLikelihood(x, params), direct, 1e-12);
  });

  it("T of plain samples follows Gamma(k, 1) with k = Σ 1/β", () => {
    const params = randomParams(64, 7, 0.3, 4);
    const k = radiusShape(params.beta);
    const rng = new Rng(9);
    const n = 1500;
    const radii = Array.from({ length: n }, () => likelihoodRadius(sampleGgd(params, rng), params));
    expect(ksDistance(radii, (t) => regularizedGammaP(k, t))).toBeLessThan(ksCritical(n));
  });
});

describe("exact shells", () => {
  for (const dim of [64, 768]) {
    it(`land on T = P⁻¹(k, q) to 1e-6 for D = ${dim}, β in [0.1, 5]`, () => {
      const params = randomParams(dim, dim, 0.1, 5);
      const k = radiusShape(params.beta);
      const rng = new Rng(10);
      for (const q of [0.001, 0.01, 0.5, 0.99, 0.999]) {
        const x = sampleShell(params, q, rng);
        const t = inverseRegularizedGammaP(k, q);
        expectRelativelyClose(likelihoodRadius(x, params), t, 1e-6);
        expect(Math.abs(regularizedGammaP(k, likelihoodRadius(x, params)) - q)).toBeLessThan(1e-6);
      }
    });
  }

  it("give Dirichlet weights that sum to one", () => {
    const params = randomParams(768, 11, 0.1, 5);
    const direction = drawShellDirection(params.beta, new Rng(12));
    const total = direction.logWeights.reduce((s, w) => s + Math.exp(w), 0);
    expect(Math.abs(total - 1)).toBeLessThan(1e-12);
  });

  it("at a uniformly random quantile are exact GGD draws (per-dimension KS)", () => {
    const params: GgdParams = { mu: [0.1, -0.2, 0], alpha: [0.5, 1, 2], beta: [0.5, 1, 3] };
    const rng = new Rng(13);
    const n = 3000;
    const draws = Array.from({ length: n }, () => sampleShell(params, rng.uniform(), rng));
    for (let j = 0; j < 3; j++) {
      const column = draws.map((x) => x[j]);
      const cdf = (v: number) => ggdCdf(v, params.mu[j], params.alpha[j], params.beta[j]);
      expect(ksDistance(column, cdf)).toBeLessThan(ksCritical(n));
    }
  });

  it("place one direction on nested shells, all on the same side of μ", () => {
    const params = randomParams(32, 14, 0.3, 3);
    const direction = drawShellDirection(params.beta, new Rng(15));
    const inner = placeOnShell(params, direction, 10);
    const outer = placeOnShell(params, direction, 40);
    expectRelativelyClose(likelihoodRadius(inner, params), 10, 1e-12);
    expectRelativelyClose(likelihoodRadius(outer, params), 40, 1e-12);
    for (let j = 0; j < 32; j++) {
      const innerOffset = (inner[j] - params.mu[j]) * direction.signs[j];
      const outerOffset = (outer[j] - params.mu[j]) * direction.signs[j];
      expect(innerOffset).toBeGreaterThanOrEqual(0);
      expect(outerOffset).toBeGreaterThanOrEqual(innerOffset);
    }
  });
});

describe("validateGgdParams", () => {
  it("returns D for a valid distribution and rejects invalid ones with invalid_input", () => {
    expect(validateGgdParams(constantParams(7, 0, 1, 1))).toBe(7);
    const invalid: GgdParams[] = [
      { mu: [], alpha: [], beta: [] },
      { mu: [0, 0], alpha: [1], beta: [1, 1] },
      { mu: [0], alpha: [0], beta: [1] },
      { mu: [0], alpha: [1], beta: [-1] },
      { mu: [Number.NaN], alpha: [1], beta: [1] },
      { mu: [0], alpha: [Number.POSITIVE_INFINITY], beta: [1] },
    ];
    for (const params of invalid) {
      expect(() => validateGgdParams(params)).toThrow(expect.objectContaining({ code: "invalid_input" }));
    }
  });
});
