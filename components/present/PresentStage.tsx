"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useRef, useState, type PointerEvent } from "react";
import type { Run } from "../api";
import { cellLabel, etaText, percentileText, rowLabel, rowLabelText, rowName, significant, startsAtMean } from "../format";
import { GridLayout } from "../run/GridLayout";
import { useRunStream } from "../run/useRunStream";
import { useImageCache } from "./useImageCache";

const NEXT = new Set(["ArrowRight", "ArrowDown", " ", "PageDown"]);
const BACK = new Set(["ArrowLeft", "ArrowUp", "PageUp"]);
/** A pointer that moves this far sideways, more than it moves up or down, is a swipe, not a tap. */
const SWIPE_PX = 40;
/** Taps on the left part of the stage go back, as on a slide deck; anywhere else goes on. */
const BACK_ZONE = 0.3;

/**
 * Full-screen, always dark: the caption large, then the grid revealed one row at a time from the
 * mean outward. Hidden rows keep their space so nothing moves as rows appear. Keys, the buttons,
 * a tap or click (left third: back) and a swipe (left: next, right: back) all step through rows.
 */
export function PresentStage({ initial }: { initial: Run }) {
  const { run } = useRunStream(initial);
  const router = useRouter();
  const stage = useRef<HTMLDivElement>(null);
  const [revealed, setRevealed] = useState(1);
  const { rows, cols, cells, imageSize, description } = run;
  const input = run.request.input;
  const src = useImageCache([...cells.flatMap((cell) => (cell.image ? [cell.image] : [])), ...(input.kind === "image" ? [input.upload] : [])]);

  const pointerStart = useRef<{ x: number; y: number } | null>(null);
  const step = (by: number) => setRevealed((count) => Math.min(rows, Math.max(1, count + by)));
  const next = () => step(1);
  const back = () => step(-1);

  function onPointerDown(event: PointerEvent<HTMLElement>) {
    pointerStart.current = event.isPrimary ? { x: event.clientX, y: event.clientY } : null;
  }

  function onPointerUp(event: PointerEvent<HTMLElement>) {
    const start = pointerStart.current;
    pointerStart.current = null;
    if (!start || event.button > 0) return;
    const dx = event.clientX - start.x;
    const dy = event.clientY - start.y;
    if (Math.abs(dx) >= SWIPE_PX && Math.abs(dx) > Math.abs(dy)) {
      if (dx < 0) next();
      else back();
      return;
    }
    if (Math.hypot(dx, dy) >= SWIPE_PX) return;
    const box = event.currentTarget.getBoundingClientRect();
    if (event.clientX - box.left < box.width * BACK_ZONE) back();
    else next();
  }

  useEffect(() => {
    stage.current?.focus();
    const onKey = (event: KeyboardEvent) => {
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      if (NEXT.has(event.key)) step(1);
      else if (BACK.has(event.key)) step(-1);
      else if (event.key === "Home") setRevealed(1);
      else if (event.key === "End") setRevealed(rows);
      else if (event.key === "Escape") router.push(`/runs/${encodeURIComponent(run.id)}`);
      else return;
      event.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [rows, router, run.id]);

  const lastLabel = `${rowName(revealed - 1)} · ${rowLabelText(rowLabel(run.request.plan, cells, revealed - 1))}`;
  return (
    <div
      ref={stage}
      tabIndex={-1}
      data-testid="present-stage"
      aria-label="Presentation"
      // .dark swaps the colour variables for this subtree whatever the site theme is.
      className="dark fixed inset-0 z-50 flex flex-col overflow-hidden bg-[#0b0c0e] text-neutral-50 outline-none"
      // Cells fill the space left under the caption (a size container), minus labels and gaps:
      // labels beside the rows from 640 px up, above each row on phones (GridLayout, scale large).
      style={{
        ["--cell-wide" as string]: `min(calc((100cqw - 14rem) / ${cols}), calc((100cqh - 2.5rem - ${rows - 1} * 0.75rem) / ${rows}), 16rem)`,
        ["--cell-narrow" as string]: `min(calc((100cqw - ${cols - 1} * 0.75rem) / ${cols}), calc((100cqh - 1.5rem - ${rows} * 1.75rem - ${rows - 1} * 0.375rem) / ${rows}), 16rem)`,
      }}
    >
      <header className="flex flex-wrap items-start gap-x-10 gap-y-2 px-4 pt-4 sm:gap-y-4 sm:px-10 sm:pt-8">
        <div className="min-w-0 flex-1">
          {input.kind === "caption" ? (
            <h1 className={`font-semibold tracking-tight text-balance ${input.text.length > 40 ? "text-xl sm:text-4xl" : "text-2xl sm:text-5xl"}`}>“{input.text}”</h1>
          ) : (
            <div className="flex items-center gap-4">
              <img src={src(input.upload)} alt="The input image" width={input.width} height={input.height} className="pixelated size-24 rounded-md bg-neutral-900 object-contain" />
              <h1 className="text-3xl font-semibold tracking-tight sm:text-4xl">An uploaded image</h1>
            </div>
          )}
        </div>
        {description && (
          <div className="flex items-baseline gap-3 sm:block sm:text-right">
            <p className="font-mono text-2xl font-semibold tabular-nums sm:text-4xl">{significant(description.uncertainty, 3)}</p>
            <p className="text-xs text-neutral-400 sm:text-base">uncertainty · {percentileText(description.percentile, description.modality)}</p>
          </div>
        )}
      </header>

      <main
        data-testid="present-area"
        onPointerDown={onPointerDown}
        onPointerUp={onPointerUp}
        onPointerCancel={() => (pointerStart.current = null)}
        // A drag across the cells is a swipe, not the browser dragging an image away.
        onDragStart={(event) => event.preventDefault()}
        className="flex min-h-0 flex-1 cursor-pointer touch-pan-y select-none items-center justify-center px-4 py-4 [--cell:var(--cell-narrow)] [container-type:size] sm:py-6 sm:[--cell:var(--cell-wide)]"
      >
        <GridLayout
          plan={run.request.plan}
          rows={rows}
          cols={cols}
          cells={cells}
          track="var(--cell)"
          scale="large"
          ariaLabel={startsAtMean(run.request.plan) ? "Samples, mean row first" : "Samples, nearest row first"}
          rowAttributes={(row) => ({
            "data-testid": "present-row",
            "data-revealed": String(row < revealed),
            "aria-hidden": row < revealed ? undefined : true,
            className: `col-span-full grid grid-cols-subgrid items-center transition-opacity duration-500 ${row < revealed ? "opacity-100" : "opacity-0"}`,
          })}
          renderCell={(row, col, cell) => (
            <div className="overflow-hidden rounded bg-neutral-900" style={{ aspectRatio: `${imageSize.width} / ${imageSize.height}` }}>
              {cell?.image && <img src={src(cell.image)} alt={cellLabel(run.request.plan, cells, row, col)} width={imageSize.width} height={imageSize.height} className="pixelated size-full object-cover" />}
            </div>
          )}
        />
      </main>

      <footer className="flex flex-wrap items-center gap-x-6 gap-y-2 px-4 pb-3 text-sm text-neutral-400 sm:px-10 sm:pb-5">
        <p aria-live="polite" data-testid="present-position" className="w-full font-mono text-xs tabular-nums text-neutral-200 sm:w-auto sm:text-sm">
          {lastLabel} · {revealed} of {rows} rows
        </p>
        {run.status !== "done" && <p>{etaText(run.status, run.progress.etaSeconds)}</p>}
        <p className="ml-auto hidden lg:block">Tap, swipe or → Space for the next row · ← back · Esc leave</p>
        <div className="flex gap-1.5 sm:ml-auto lg:ml-0">
          <button type="button" data-testid="present-back" onClick={back} disabled={revealed <= 1} className={STAGE_BUTTON}>
            ← Back
          </button>
          <button type="button" data-testid="present-next" onClick={next} disabled={revealed >= rows} className={STAGE_BUTTON}>
            Next row →
          </button>
        </div>
        <Link href={`/runs/${encodeURIComponent(run.id)}`} className="ml-auto rounded-md px-2 py-1 text-neutral-300 hover:bg-neutral-800 hover:text-white sm:ml-0">
          Leave presentation
        </Link>
      </footer>
    </div>
  );
}

const STAGE_BUTTON = "inline-flex h-9 items-center rounded-md border border-neutral-700 px-3 text-neutral-200 hover:bg-neutral-800 hover:text-white disabled:opacity-35";
