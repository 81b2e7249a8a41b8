/*
 * CRC-32 (ISO 3309, the polynomial of PNG chunks and zip entries), hand-written because
 * zlib.crc32 needs Node ≥ 20.15, and the combine step that lets a streamed file's CRC be built
 * chunk by chunk.
 */

/** The CRC-32 polynomial, bit-reflected. */
const POLYNOMIAL = 0xedb88320;

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? POLYNOMIAL ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function gf2MatrixTimes(matrix: Uint32Array, vector: number): number {
  let sum = 0;
  for (let i = 0; vector !== 0; i++, vector >>>= 1) if (vector & 1) sum ^= matrix[i];
  return sum >>> 0;
}

function gf2MatrixSquare(square: Uint32Array, matrix: Uint32Array): void {
  for (let n = 0; n < 32; n++) square[n] = gf2MatrixTimes(matrix, matrix[n]);
}

/** CRC-32 of A‖B from crc32(A), crc32(B) and B's length (zlib's crc32_combine). */
export function crc32Combine(crcA: number, crcB: number, lengthB: number): number {
  if (lengthB <= 0) return crcA >>> 0;
  const even = new Uint32Array(32);
  const odd = new Uint32Array(32);
  // odd: the operator for one zero bit.
  odd[0] = POLYNOMIAL;
  for (let n = 1, row = 1; n < 32; n++, row <<= 1) odd[n] = row >>> 0;
  gf2MatrixSquare(even, odd); // two zero bits
  gf2MatrixSquare(odd, even); // four zero bits
  let crc = crcA >>> 0;
  let remaining = lengthB;
  // Apply lengthB zero bytes to crcA, squaring the operator for each bit of the length.
  for (;;) {
    gf2MatrixSquare(even, odd);
    if (remaining % 2 === 1) crc = gf2MatrixTimes(even, crc);
    remaining = Math.floor(remaining / 2);
    if (remaining === 0) break;
    gf2MatrixSquare(odd, even);
    if (remaining % 2 === 1) crc = gf2MatrixTimes(odd, crc);
    remaining = Math.floor(remaining / 2);
    if (remaining === 0) break;
  }
  return (crc ^ crcB) >>> 0;
}
