import type { CSSProperties, HTMLAttributes, ReactNode } from "react";
import type { Cell, Plan } from "../api";
import { colLabel, rowLabel, rowLabelChars } from "../format";

export interface GridLayoutProps {
  plan: Plan;
  rows: number;
  cols: number;
  cells: Cell[];
  /** CSS size of one cell column, e.g. "minmax(0, 9rem)". */
  track: string;
  scale?: "regular" | "large";
  testId?: string;
  ariaLabel: string;
  renderCell: (row: number, col: number, cell: Cell | undefined) => ReactNode;
  rowAttributes?: (row: number) => HTMLAttributes<HTMLDivElement> & Record<`data-${string}`, string>;
  onKeyDown?: HTMLAttributes<HTMLDivElement>["onKeyDown"];
}

/**
 * The grid's structure shared by the run page, comparisons and the presentation: a header row of
 * column labels, then one row per deviation level with its label. Rows are subgrids so every
 * label column and cell column lines up whatever each row holds.
 */
export function GridLayout({ plan, rows, cols, cells, track, scale = "regular", testId, ariaLabel, renderCell, rowAttributes, onKeyDown }: GridLayoutProps) {
  const byPosition = new Map(cells.map((cell) => [cell.row * cols + cell.col, cell]));
  const large = scale === "large";
  // Large (the presentation) puts each row's label above its cells on phones, so the cells get
  // the screen's whole width; the template comes from classes then, which an inline one would beat.
  const style: CSSProperties = large
    ? ({ "--grid-cols": cols, "--grid-track": track } as CSSProperties)
    : { gridTemplateColumns: `max-content repeat(${cols}, ${track})` };
  // The label column is as wide as the plan's longest label from the start: labels gain their
  // numbers as cells arrive, and a column that grew or shrank then would move every cell.
  const labelWidth = `${rowLabelChars(plan)}ch`;
  const reservesDetail = plan.kind !== "shell";
  return (
    <div role="table" aria-label={ariaLabel} data-testid={testId} className={`grid ${
        large
          ? "grid-cols-[repeat(var(--grid-cols),var(--grid-track))] gap-x-3 gap-y-1.5 sm:grid-cols-[max-content_repeat(var(--grid-cols),var(--grid-track))] sm:gap-x-4 sm:gap-y-3"
          : "gap-x-1.5 gap-y-1.5 sm:gap-x-2 sm:gap-y-2"
      }`} style={style} onKeyDown={onKeyDown}>
      <div role="row" className="col-span-full grid grid-cols-subgrid">
        {/* The corner keeps its grid slot; only its words are visually hidden. */}
        <span role="columnheader" className={large ? "max-sm:sr-only" : undefined}>
          <span className="sr-only">Deviation</span>
        </span>
        {Array.from({ length: cols }, (_, col) => (
          <span key={col} role="columnheader" data-testid="col-label" className={`min-w-0 truncate text-center tabular-nums ${large ? "text-xs text-neutral-400 sm:text-base" : "text-[11px] text-faint"}`}>
            {colLabel(col)}
          </span>
        ))}
      </div>
      {Array.from({ length: rows }, (_, row) => {
        const label = rowLabel(plan, cells, row);
        return (
          <div key={row} role="row" className="col-span-full grid grid-cols-subgrid items-center" {...rowAttributes?.(row)}>
            <span
              role="rowheader"
              data-testid="row-label"
              className={`flex pr-1 font-mono tabular-nums leading-tight ${
                large ? "col-span-full flex-row items-baseline gap-3 text-sm sm:col-span-1 sm:flex-col sm:items-stretch sm:gap-0 sm:text-right sm:text-2xl" : "flex-col text-xs sm:pr-2"
              }`}
            >
              <span className={large ? "font-semibold text-neutral-50" : "font-medium text-fg"} style={{ minWidth: labelWidth }}>
                {label.main}
              </span>
              {label.detail ? (
                <>
                  <span className="sr-only"> · </span>
                  <span className={large ? "text-neutral-400 sm:text-lg" : "text-[11px] text-muted"}>{label.detail}</span>
                </>
              ) : (
                // A row that will get its average once cells arrive keeps that line's height now.
                reservesDetail && <span aria-hidden="true" className={large ? "sm:text-lg" : "text-[11px]"}>{"\u00a0"}</span>
              )}
            </span>
            {Array.from({ length: cols }, (_, col) => (
              <div key={col} role="cell" className="relative min-w-0">
                {renderCell(row, col, byPosition.get(row * cols + col))}
              </div>
            ))}
          </div>
        );
      })}
    </div>
  );
}
