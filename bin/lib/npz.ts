import { writeZipFile, type ZipPart } from "../../lib/runs/zip";

/*
 * NumPy .npz files written as a stream: a zip of stored (uncompressed) .npy entries whose array
 * data is copied from files on disk. A pairs file for COCO in a 768- or 1024-dimensional CLIP
 * space is 3.6–4.8 GB, so the archive is streamed. Every file has zip64 records, whatever its
 * size, so small and large ones share one layout (Python's zipfile, hence np.load, reads them).
 */

/** A dtype NumPy names portably: little-endian float32 and int64. */
export type NpyDtype = "<f4" | "<i8";

export const DTYPE_BYTES: Readonly<Record<NpyDtype, number>> = { "<f4": 4, "<i8": 8 };

/** The .npy v1.0 header of a C-order array; NumPy pads it so the data starts on a 64-byte boundary. */
export function npyHeader(dtype: NpyDtype, shape: readonly number[]): Buffer {
  for (const size of shape) {
    if (!Number.isSafeInteger(size) || size < 0) throw new Error(`npy shape sizes must be integers ≥ 0, got [${shape.join(", ")}]`);
  }
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  const dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const prefixLength = 10; // magic (6), version (2), header length (2)
  const unpadded = prefixLength + dict.length + 1; // + the closing newline
  const padded = Math.ceil(unpadded / 64) * 64;
  const header = Buffer.alloc(padded, 0x20);
  header.write("\x93NUMPY", 0, "latin1");
  header[6] = 1;
  header[7] = 0;
  header.writeUInt16LE(padded - prefixLength, 8);
  header.write(dict, prefixLength, "latin1");
  header[padded - 1] = 0x0a;
  return header;
}

export interface NpzEntry {
  /** The array's key in np.load's result; the entry is stored as `<name>.npy`. */
  readonly name: string;
  readonly dtype: NpyDtype;
  readonly shape: readonly number[];
  /** The array's data, C order, little-endian, exactly shape × dtype bytes. */
  readonly data: readonly ZipPart[];
}

// A fixed timestamp: the same arrays always give the same bytes, so a resumed run can be compared
// byte for byte with an uninterrupted one.
const ENTRY_TIME = new Date(Date.UTC(1980, 0, 1));

/** Writes `entries` as an .npz at `file` (replacing it). The caller renames a temporary file into place if it needs atomicity. */
export async function writeNpz(file: string, entries: readonly NpzEntry[]): Promise<void> {
  const arrays = entries.map((entry) => {
    const expected = entry.shape.reduce((product, size) => product * size, 1) * DTYPE_BYTES[entry.dtype];
    const actual = entry.data.reduce((sum, part) => sum + part.length, 0);
    if (actual !== expected) {
      throw new Error(`npz entry ${entry.name}: shape [${entry.shape.join(", ")}] of ${entry.dtype} needs ${expected} bytes, the data has ${actual}`);
    }
    return { name: `${entry.name}.npy`, parts: [npyHeader(entry.dtype, entry.shape), ...entry.data] };
  });
  await writeZipFile(file, arrays, ENTRY_TIME, "always");
}
