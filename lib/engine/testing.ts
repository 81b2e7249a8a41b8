/* Helpers for tests that judge decoded shapes-preset images; not part of the engine's API. */

const PALETTE: Record<string, [number, number, number]> = {
  red: [220, 35, 35],
  orange: [245, 140, 20],
  yellow: [240, 220, 40],
  green: [40, 175, 60],
  blue: [40, 85, 230],
  purple: [135, 50, 200],
  pink: [250, 125, 190],
};

/**
 * The judge of models/training/evaluate.py, in short: pixels that differ from the average corner
 * are foreground; each votes for its nearest palette colour. Returns the winner and its share.
 */
export function foregroundColour(rgb: Uint8Array, side: number): { colour: string | null; share: number; foreground: number } {
  const corners = [0, side - 1, (side - 1) * side, side * side - 1];
  const background = [0, 1, 2].map((c) => corners.reduce((sum, p) => sum + rgb[p * 3 + c], 0) / 4);
  const votes = new Map<string, number>();
  let foreground = 0;
  for (let p = 0; p < side * side; p++) {
    const pixel = [rgb[p * 3], rgb[p * 3 + 1], rgb[p * 3 + 2]];
    if (pixel.reduce((sum, v, c) => sum + Math.abs(v - background[c]), 0) < 90) continue;
    foreground++;
    let best = "";
    let bestDistance = Infinity;
    for (const [name, colour] of Object.entries(PALETTE)) {
      const distance = colour.reduce((sum, v, c) => sum + (v - pixel[c]) ** 2, 0);
      if (distance < bestDistance) [best, bestDistance] = [name, distance];
    }
    votes.set(best, (votes.get(best) ?? 0) + 1);
  }
  const [colour, count] = [...votes.entries()].sort((a, b) => b[1] - a[1])[0] ?? [null, 0];
  return { colour, share: foreground ? count / foreground : 0, foreground };
}

/** A decoded cell whose foreground is mostly `colour` and large enough to be an object, not speckle. */
export function isMostlyColour(cell: { rgb: Uint8Array; width: number; height: number }, colour: string): boolean {
  const verdict = foregroundColour(cell.rgb, cell.width);
  return verdict.colour === colour && verdict.share > 0.5 && verdict.foreground >= 0.02 * cell.width * cell.height;
}
