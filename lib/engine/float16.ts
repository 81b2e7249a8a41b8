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

/** binary16 bits of every value, read from the float32 bits in place (no per-value call or copy). */
export function float32ArrayToFloat16Bits(data: Float32Array | Int32Array): Uint16Array {
  const floats = data instanceof Float32Array ? data : Float32Array.from(data);
  const bits = new Uint32Array(floats.buffer, floats.byteOffset, floats.length);
  const halves = new Uint16Array(floats.length);
  for (let i = 0; i < halves.length; i++) halves[i] = halfFromFloatBits(bits[i]);
  return halves;
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

/** The numbers an array of binary16 bit patterns stands for. */
export function float16BitsToFloat32Array(bits: Uint16Array): Float32Array {
  halfValues ??= Float32Array.from({ length: 0x10000 }, (_, pattern) => float16BitsToFloat32(pattern));
  const values = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) values[i] = halfValues[bits[i]];
  return values;
}
