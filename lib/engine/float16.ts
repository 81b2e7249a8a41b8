/**
 * IEEE 754 binary16 ("float16") conversion, for models that declare float16 tensors: onnxruntime
 * takes and gives their data as raw 16-bit patterns.
 */

// A float's bits read through a typed-array alias of the same memory: the engine converts whole UNet
// feeds (millions of values per step at real sizes), where a DataView call per value costs ~100× more.
const floatSlot = new Float32Array(1);
const floatSlotBits = new Uint32Array(floatSlot.buffer);

/** IEEE 754 binary16 bits of a number, rounded to nearest even; overflow gives ±Infinity. */
export function float32ToFloat16Bits(value: number): number {
  floatSlot[0] = value;
  return halfFromFloatBits(floatSlotBits[0]);
}

// |x| from the smallest normal half (2^−14) up to, not including, 65520 (which rounds to Infinity): the
// float32 bit patterns whose half is normal and finite, the values a UNet's latents and outputs take.
const NORMAL_HALF_LOW = 0x38800000;
const NORMAL_HALF_HIGH = 0x477ff000;
// Rebiases the exponent from float32's 127 to binary16's 15 in place in the bit pattern: (127 − 15) << 23.
const EXPONENT_REBIAS = 0x38000000;

/**
 * binary16 bits of every value, read from the float32 bits in place, into `into` when given (its length must
 * match; a UNet's latents are converted at every step, and a reused array saves the allocation).
 */
export function float32ArrayToFloat16Bits(data: Float32Array | Int32Array, into: Uint16Array = new Uint16Array(data.length)): Uint16Array {
  if (into.length !== data.length) throw new RangeError(`float16 conversion: ${data.length} values into an array of ${into.length}`);
  const floats = data instanceof Float32Array ? data : Float32Array.from(data);
  const bits = new Uint32Array(floats.buffer, floats.byteOffset, floats.length);
  for (let i = 0; i < into.length; i++) {
    const value = bits[i];
    const magnitude = value & 0x7fffffff;
    if (magnitude >= NORMAL_HALF_LOW && magnitude < NORMAL_HALF_HIGH) {
      // Normal and finite: drop 13 mantissa bits, rounding to nearest even by adding 0xfff plus the lowest kept
      // bit; a carry out of the mantissa bumps the exponent, as it should. Equal to halfFromFloatBits, only
      // without its branches for zeros, subnormals, overflow and NaN.
      into[i] = ((value >>> 16) & 0x8000) | ((magnitude - EXPONENT_REBIAS + 0xfff + ((magnitude >>> 13) & 1)) >>> 13);
    } else {
      into[i] = halfFromFloatBits(value);
    }
  }
  return into;
}

/** binary16 bits from binary32 bits, rounded to nearest even. */
function halfFromFloatBits(bits: number): number {
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  const mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Subnormal half (or zero): shift the full significand, rounding to nearest even.
    if (halfExponent < -10) return sign;
    const significand = mantissa | 0x800000;
    const shift = 14 - halfExponent;
    const halfway = 1 << (shift - 1);
    const remainder = significand & ((1 << shift) - 1);
    let half = significand >>> shift;
    if (remainder > halfway || (remainder === halfway && half & 1)) half++;
    return sign | half;
  }
  let half = (halfExponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to Infinity).
  if (remainder > 0x1000 || (remainder === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** The number a binary16 bit pattern stands for. */
export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Every binary16 value by its bits (256 KiB, built on first use): a lookup beats the arithmetic per value. */
let halfValues: Float32Array | undefined;

/** The numbers an array of binary16 bit patterns stands for, into `into` when given (its length must match). */
export function float16BitsToFloat32Array(bits: Uint16Array, into: Float32Array = new Float32Array(bits.length)): Float32Array {
  if (into.length !== bits.length) throw new RangeError(`float16 conversion: ${bits.length} values into an array of ${into.length}`);
  halfValues ??= Float32Array.from({ length: 0x10000 }, (_, pattern) => float16BitsToFloat32(pattern));
  for (let i = 0; i < bits.length; i++) into[i] = halfValues[bits[i]];
  return into;
}
