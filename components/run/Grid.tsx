"use client";

import { useRef, useState, type KeyboardEvent } from "react";
import { imageUrl, type Run } from "../api";
import { cellLabel } from "../format";
import { ProgressRing } from "../ui/ProgressRing";
import { CellMetricList } from "./CellMetrics";
import { GridLayout } from "./GridLayout";
import { Lightbox } from "./Lightbox";
import { cellState, type Live } from "./runState";

interface GridProps {
  run: Pick<Run, "id" | "rows" | "cols" | "cells" | "imageSize" | "request">;
  live: Live | null;
  testId: "run-grid" | "compare-grid";
  ariaLabel: string;
  /** Compact (four fifths of the chosen cell size) for comparisons side by side. */
  size?: "regular" | "compact";
}

const MOVES: Record<string, [number, number]> = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };

/**
 * The interactive grid: cells reserve their aspect ratio before pixels arrive, show their own
 * progress, reveal their numbers on hover or focus, move focus with the arrow keys (one tab stop
 * for the whole grid) and open the lightbox on click or Enter.
 */
export function Grid({ run, live, testId, ariaLabel, size = "regular" }: GridProps) {
  const { rows, cols, cells, imageSize } = run;
  const plan = run.request.plan;
  const [focus, setFocus] = useState(0);
  const [inspected, setInspected] = useState<{ index: number; by: "hover" | "focus" } | null>(null);
  const [open, setOpen] = useState<number | null>(null);
  const buttons = useRef(new Map<number, HTMLButtonElement>());
  const byPosition = new Map(cells.map((cell) => [cell.row * cols + cell.col, cell]));

  function onKeyDown(event: KeyboardEvent<HTMLDivElement>) {
    const move = MOVES[event.key];
    if (!move) return;
    const row = Math.min(rows - 1, Math.max(0, Math.floor(focus / cols) + move[0]));
    const col = Math.min(cols - 1, Math.max(0, (focus % cols) + move[1]));
    event.preventDefault();
    buttons.current.get(row * cols + col)?.focus();
  }

  function closeLightbox(last: number) {
    setOpen(null);
    setFocus(last);
    buttons.current.get(last)?.focus();
  }

  const aspectRatio = `${imageSize.width} / ${imageSize.height}`;
  return (
    <>
      <GridLayout
        plan={plan}
        rows={rows}
        cols={cols}
        cells={cells}
        track={size === "compact" ? "minmax(var(--cell-min), calc(var(--cell-max) * 0.8))" : "minmax(var(--cell-min), var(--cell-max))"}
        testId={testId}
        ariaLabel={ariaLabel}
        onKeyDown={onKeyDown}
        renderCell={(row, col, cell) => {
          const position = row * cols + col;
          const state = cellState(cell?.image ?? null, cell?.index ?? -1, live);
          const label = cellLabel(plan, cells, row, col);
          const showMetrics = cell && inspected?.index === position;
          const tipId = `${testId}-tip-${position}`;
          return (
            <>
              <button
                type="button"
                ref={(node) => {
                  if (node) buttons.current.set(position, node);
                  else buttons.current.delete(position);
                }}
                data-testid="grid-cell"
                data-row={row}
                data-col={col}
                data-state={state}
                tabIndex={position === focus ? 0 : -1}
                aria-label={`${label}${state === "done" ? "" : state === "active" ? " (decoding)" : " (waiting)"}. Open enlarged.`}
                aria-describedby={showMetrics ? tipId : undefined}
                onClick={() => setOpen(position)}
                onFocus={() => {
                  setFocus(position);
                  setInspected({ index: position, by: "focus" });
                }}
                onBlur={() => setInspected((current) => (current?.by === "focus" ? null : current))}
                onMouseEnter={() => setInspected({ index: position, by: "hover" })}
                onMouseLeave={() => setInspected((current) => (current?.index === position ? null : current))}
                style={{ aspectRatio }}
                className={`group relative block w-full overflow-hidden rounded-[3px] bg-sunken outline-offset-2 ${
                  state === "active" ? "ring-2 ring-accent/70" : state === "pending" ? "ring-1 ring-inset ring-line" : "hover:ring-2 hover:ring-accent/40"
                }`}
              >
                {cell?.image ? (
                  <img src={imageUrl(cell.image)} alt={label} width={imageSize.width} height={imageSize.height} className="pixelated size-full object-cover" />
                ) : state === "active" ? (
                  <span className="absolute inset-0 flex items-center justify-center text-accent">
                    <ProgressRing value={live?.fraction ?? 0} className="size-1/3 max-h-8 max-w-8" />
                  </span>
                ) : null}
              </button>
              {showMetrics && cell && (
                <div
                  id={tipId}
                  role="tooltip"
                  data-testid="cell-metrics"
                  className={`pointer-events-none absolute z-20 w-48 rounded-md border border-line bg-surface p-2.5 shadow-lg shadow-black/10 ${
                    row >= rows / 2 && rows > 1 ? "bottom-full mb-1.5" : "top-full mt-1.5"
                  } ${col >= cols / 2 ? "right-0" : "left-0"}`}
                >
                  <p className="mb-1.5 text-[11px] font-medium text-muted">{label}</p>
                  <CellMetricList cell={cell} />
                </div>
              )}
            </>
          );
        }}
      />
      {open !== null && (
        <Lightbox
          runId={run.id}
          plan={plan}
          rows={rows}
          cols={cols}
          cells={cells}
          byPosition={byPosition}
          imageSize={imageSize}
          position={open}
          onMove={setOpen}
          onClose={closeLightbox}
        />
      )}
    </>
  );
}
