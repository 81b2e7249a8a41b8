/** Number formats shared by the CLI's tables, the labels drawn on grids and the server's messages. */

/** Fixed decimals; non-finite values as words (NaN, Infinity). */
export function fixed(value: number, digits: number): string {
  if (!Number.isFinite(value)) return String(value);
  // Avoids printing "-0.000" for tiny negatives.
  const text = value.toFixed(digits);
  return /^-0\.?0*$/.test(text) ? text.slice(1) : text;
}

/** Significant digits without exponent noise for the magnitudes the engine reports (1e-6 … 1e6). */
export function significant(value: number, digits: number): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return "0";
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  if (magnitude < -6 || magnitude > 6) return value.toExponential(digits - 1);
  return fixed(value, Math.max(0, digits - 1 - magnitude));
}

/** A byte count in the largest binary unit that keeps it ≥ 1: "512 bytes", "64 KiB", "10 MiB". */
export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${+(bytes / (1024 * 1024)).toFixed(1)} MiB`;
  if (bytes >= 1024) return `${+(bytes / 1024).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}
