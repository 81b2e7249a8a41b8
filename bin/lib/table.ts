import type { RunResult } from "../../lib/engine/index";
import { fixed, significant } from "../../lib/format";
import { tailName } from "../../lib/record";

export { fixed, significant };

/*
 * Plain-text tables and number formats for the CLI. Widths count code
 * points, so headers like "λ" and "‖x−μ‖" line up in a terminal.
 */

export interface Column {
  readonly header: string;
  /** Numbers read best right-aligned, so their digits line up. */
  readonly align: "left" | "right";
}

const width = (text: string) => [...text].length;

/** Columns separated by two spaces, a dashed rule under the headers, no trailing spaces. */
export function formatTable(columns: readonly Column[], rows: readonly (readonly string[])[]): string {
  const widths = columns.map((column, i) => Math.max(width(column.header), ...rows.map((row) => width(row[i] ?? ""))));
  const line = (cells: readonly string[]) =>
    columns
      .map((column, i) => {
        const cell = cells[i] ?? "";
        const pad = " ".repeat(widths[i] - width(cell));
        return column.align === "right" ? pad + cell : cell + pad;
      })
      .join("  ")
      .trimEnd();
  return [line(columns.map((c) => c.header)), widths.map((w) => "─".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** A probability to 4 decimals that never rounds a non-zero tail to exactly 0 or 1. */
export function probability(value: number): string {
  const text = fixed(value, 4);
  if (text === "0.0000" && value > 0) return "<0.0001";
  if (text === "1.0000" && value < 1) return ">0.9999";
  return text;
}

/**
 * One line per cell: where it is, what its row asked for, where it sits in the decoder's space
 * (θ: degrees from the mean's decoder point; q_dec: share of plain samples closer; ‖y−y(μ)‖),
 * then where it was drawn, in the adapter's space (λ, T, q, NLL, cos, ‖x−μ‖).
 */
export function formatCellTable(result: RunResult): string {
  const { plan } = result.request;
  const target: Column = { header: plan.kind === "shell" ? "q target" : plan.kind === "geodesic" ? "θ target" : "λ", align: "right" };
  const columns: Column[] = [
    { header: "row", align: "right" },
    { header: "sample", align: "right" },
    target,
    { header: "θ", align: "right" },
    { header: "q_dec", align: "right" },
    { header: "‖y−y(μ)‖", align: "right" },
    ...(plan.kind === "geodesic" ? [{ header: "λ", align: "right" } as const] : []),
    { header: "T", align: "right" },
    { header: "q", align: "right" },
    { header: "NLL", align: "right" },
    { header: "cos(x,μ)", align: "right" },
    { header: "‖x−μ‖", align: "right" },
  ];
  const rows = result.cells.map((cell) => [
    String(cell.row),
    // Samples count from 1, as the page, the grid PNG and the cell file names count them (lib/record.ts).
    String(cell.col + 1),
    plan.kind === "shell" ? String(cell.quantileTarget) : plan.kind === "geodesic" ? `${fixed(cell.angleTarget ?? Number.NaN, 2)}°` : String(cell.lambda),
    `${fixed(cell.decoderAngle, 2)}°`,
    probability(cell.decoderQuantile),
    fixed(cell.decoderDistance, 4),
    ...(plan.kind === "geodesic" ? [fixed(cell.lambda ?? Number.NaN, 4)] : []),
    fixed(cell.T, 2),
    probability(cell.q),
    fixed(cell.nll, 2),
    fixed(cell.cosineToMean, 4),
    fixed(cell.l2FromMean, 4),
  ]);
  return formatTable(columns, rows);
}

/** "cpu: clipText, unet; cuda skipped (reason)": models grouped by where they ran, each skip reason once. */
export function formatProviders(providers: RunResult["providers"]): string {
  const byProvider = new Map<string, string[]>();
  const skipped = new Map<string, Set<string>>();
  for (const [model, report] of Object.entries(providers)) {
    byProvider.set(report.provider, [...(byProvider.get(report.provider) ?? []), model]);
    for (const skip of report.skipped) skipped.set(skip.provider, (skipped.get(skip.provider) ?? new Set()).add(skip.reason));
  }
  const used = [...byProvider].map(([provider, models]) => `${provider}: ${models.join(", ")}`);
  const passed = [...skipped].map(([provider, reasons]) => `${provider} skipped (${[...reasons].join("; ")})`);
  return [...used, ...passed].join("; ");
}

const milliseconds = (ms: number) => (ms >= 1000 ? `${fixed(ms / 1000, 1)} s` : `${Math.round(ms)} ms`);

/** The lines above the cell table: input, uncertainty, preset, decoding settings, providers, time, files. */
export function formatRunSummary(result: RunResult, inputLabel: string, files: readonly string[]): string {
  const { request, description, preset, timings } = result;
  const reference = description.input.kind === "caption" ? "captions" : "images";
  const inputInfo =
    description.input.kind === "caption"
      ? `caption ${JSON.stringify(description.input.text)} (${description.input.tokens} tokens${description.input.truncated ? ", truncated" : ""})`
      : `image ${inputLabel} (${description.input.format}, ${description.input.width}×${description.input.height})`;
  const plan =
    request.plan.kind === "geodesic"
      ? `geodesic θ = ${request.plan.fractions.join(", ")} × ${tailName(request.plan.tail)} (${fixed(description.decoder.tailAngle, 2)}° in the decoder's space)`
      : request.plan.kind === "interpolate"
        ? `interpolate λ = ${request.plan.lambdas.join(", ")}`
        : `shell q = ${request.plan.quantiles.join(", ")}`;
  const { epistemic, outOfDistribution } = description;
  const lines: [string, string][] = [
    ["input", inputInfo],
    ...outOfDistribution.reasons.map((reason, i): [string, string] => [i === 0 ? "WARNING" : "", `outside what the preset knows: ${reason}`]),
    ["uncertainty", `${significant(description.uncertainty, 4)} (ln ${fixed(description.logUncertainty, 3)}; percentile ${fixed(description.percentile, 1)} among the preset's reference ${reference})`],
    ["epistemic", epistemic ? `${significant(epistemic.score, 4)} (percentile ${fixed(epistemic.percentile, 1)} among held-out ${reference})` : "not recorded by this preset"],
    ["preset", `${preset.name} (sha256 ${preset.digest.slice(0, 12)}…)`],
    ["plan", `${plan}; ${request.cols} columns; k = Σ1/β = ${fixed(description.radiusShape, 2)}`],
    ["decoding", `seed ${request.seed}, ${request.steps} steps ${request.scheduler}, guidance ${request.guidanceScale}, noise level ${request.noiseLevel}, prompt ${JSON.stringify(request.prompt)}`],
    ["providers", formatProviders(result.providers)],
    ["time", `${milliseconds(timings.totalMs)} (describe ${milliseconds(timings.describeMs)}, plan ${milliseconds(timings.planMs)}, decode ${milliseconds(timings.decodeMs)})`],
    ...files.map((file, i): [string, string] => [i === 0 ? "wrote" : "", file]),
  ];
  const width = Math.max(...lines.map(([key]) => key.length));
  return lines.map(([key, value]) => `${key.padEnd(width)}  ${value}`).join("\n");
}
