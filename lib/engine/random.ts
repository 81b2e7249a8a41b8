import { EngineError } from "./errors";

/*
 * Every random number in a run comes from an Rng, so a run is reproducible
 * bit for bit from its seed.
 *
 * Generator: xoshiro128** (Blackman & Vigna, 2018), 128 bits of state,
 * period 2^128 − 1, 32-bit outputs. It needs only 32-bit integer arithmetic,
 * which JavaScript does exactly with Math.imul and >>> 0.
 *
 * Seeding: the seed is read as an unsigned 64-bit key, and the state is the
 * first two outputs of SplitMix64 started at that key (low word first), as
 * the xoshiro authors recommend. SplitMix64 is a bijection of its counter,
 * so the state is never all zero.
 *
 * Streams: fork(stream) hashes (key, stream) into a new key. A child depends
 * only on its parent's key, never on how many numbers the parent has drawn,
 * so column s of a grid gets the same stream however the other columns ran.
 */

const MASK64 = (1n << 64n) - 1n;
const GOLDEN_GAMMA = 0x9e3779b97f4a7c15n;
// Separates fork keys from the parent's own SplitMix64 sequence.
const FORK_DOMAIN = 0x6a09e667f3bcc909n;
const TWO_POW_26 = 67108864;
const TWO_POW_52 = 4503599627370496;

function mix64(value: bigint): bigint {
  let z = value & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** Output `index` (1-based) of SplitMix64 started at `key`. */
function splitMix64(key: bigint, index: bigint): bigint {
  return mix64(key + index * GOLDEN_GAMMA);
}

function rotl32(value: number, shift: number): number {
  return ((value << shift) | (value >>> (32 - shift))) >>> 0;
}

function requireSafeInteger(value: number, what: string): void {
  if (!Number.isSafeInteger(value)) {
    throw new EngineError("invalid_input", `${what} must be an integer between ±(2^53 − 1), got ${value}`);
  }
}

/** A seeded xoshiro128** generator with SplitMix64 seeding and hashed child streams (see above). */
export class Rng {
  private readonly key: bigint;
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  // Box–Muller makes normals in pairs; the second waits here.
  private spareNormal: number | null = null;

  /**
   * `seed`: a safe integer or a bigint; either is read modulo 2^64 as the key
   * (negative seeds wrap to their two's complement).
   */
  constructor(seed: number | bigint) {
    if (typeof seed === "number") requireSafeInteger(seed, "seed");
    this.key = BigInt.asUintN(64, BigInt(seed));
    const first = splitMix64(this.key, 1n);
    const second = splitMix64(this.key, 2n);
    this.s0 = Number(first & 0xffffffffn);
    this.s1 = Number(first >> 32n);
    this.s2 = Number(second & 0xffffffffn);
    this.s3 = Number(second >> 32n);
  }

  /** Next raw 32-bit output, in [0, 2^32). */
  uint32(): number {
    const result = Math.imul(rotl32(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const shifted = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ shifted) >>> 0;
    this.s3 = rotl32(this.s3, 11);
    return result;
  }

  /**
   * Uniform on the open interval (0, 1): 52 random bits n give (n + ½)/2^52,
   * so logs and reciprocals of the result are always finite. Uses the top 26
   * bits of two outputs.
   */
  uniform(): number {
    const high = this.uint32() >>> 6;
    const low = this.uint32() >>> 6;
    return (high * TWO_POW_26 + low + 0.5) / TWO_POW_52;
  }

  /** Standard normal by Box–Muller; each pair of uniforms yields two normals, used in turn. */
  normal(): number {
    if (this.spareNormal !== null) {
      const spare = this.spareNormal;
      this.spareNormal = null;
      return spare;
    }
    const radius = Math.sqrt(-2 * Math.log(this.uniform()));
    const angle = 2 * Math.PI * this.uniform();
    this.spareNormal = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }

  /** Fills `out` with standard normals (the same values as calling normal() out.length times). */
  fillNormal(out: Float32Array | Float64Array): void {
    for (let i = 0; i < out.length; i++) out[i] = this.normal();
  }

  /**
   * An independent, reproducible child generator for `stream` (a safe
   * integer ≥ 0). The same parent seed and stream always give the same child.
   */
  fork(stream: number): Rng {
    requireSafeInteger(stream, "stream");
    if (stream < 0) throw new EngineError("invalid_input", `stream must be ≥ 0, got ${stream}`);
    return new Rng(mix64(mix64(this.key ^ FORK_DOMAIN) + BigInt(stream) * GOLDEN_GAMMA));
  }
}
