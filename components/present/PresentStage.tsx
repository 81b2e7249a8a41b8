"use client";

import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useRef, useState } from "react";
import type { Run } from "../api";
import { colLabel, etaText, percentileText, rowLabel, rowLabelText, significant } from "../format";
import { GridLayout } from "../run/GridLayout";
import { useRunStream } from "../run/useRunStream";
import { useImageCache } from "./useImageCache";

const NEXT = new Set(["ArrowRight", "ArrowDown", " ", "PageDown"]);
const BACK = new Set(["ArrowLeft", "ArrowUp", "PageUp"]);

/**
 * Full-screen, always dark: the caption large, then the grid revealed one row at a time from the
 * mean outward. Hidden rows keep their space so nothing moves as rows appear.
 */
export function PresentStage({ initial }: { initial: Run }) {
  const { run } = useRunStream(initial);
  const router = useRouter();
  const stage = useRef<HTMLDivElement>(null);
  const [revealed, setRevealed] = useState(1);
  const { rows, cols, cells, imageSize, description } = run;
  const input = run.request.input;
  const src = useImageCache([...cells.flatMap((cell) => (cell.image ? [cell.image] : [])), ...(input.kind === "image" ? [input.upload] : [])]);

  useEffect(() => {
    stage.current?.focus();
    const onKey = (event: KeyboardEvent) => {
      if (event.altKey || event.ctrlKey || event.metaKey) return;
      if (NEXT.has(event.key)) setRevealed((count) => Math.min(rows, count + 1));
      else if (BACK.has(event.key)) setRevealed((count) => Math.max(1, count - 1));
      else if (event.key === "Home") setRevealed(1);
      else if (event.key === "End") setRevealed(rows);
      else if (event.key === "Escape") router.push(`/runs/${encodeURIComponent(run.id)}`);
      else return;
      event.preventDefault();
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [rows, router, run.id]);

  const lastLabel = rowLabelText(rowLabel(run.request.plan, cells, revealed - 1));
  return (
    <div
      ref={stage}
      tabIndex={-1}
      data-testid="present-stage"
      aria-label="Presentation"
      // .dark swaps the colour variables for this subtree whatever the site theme is.
      className="dark fixed inset-0 z-50 flex flex-col overflow-hidden bg-[#0b0c0e] text-neutral-50 outline-none"
      // Cells fill the space left under the caption (a size container), minus labels and gaps.
      style={{ ["--cell" as string]: `min(calc((100cqw - 14rem) / ${cols}), calc((100cqh - 2.5rem - ${rows - 1} * 0.75rem) / ${rows}), 16rem)` }}
    >
      <header className="flex flex-wrap items-start gap-x-10 gap-y-4 px-6 pt-6 sm:px-10 sm:pt-8">
        <div className="min-w-0 flex-1">
          {input.kind === "caption" ? (
            <h1 className={`font-semibold tracking-tight text-balance ${input.text.length > 40 ? "text-2xl sm:text-4xl" : "text-3xl sm:text-5xl"}`}>“{input.text}”</h1>
          ) : (
            <div className="flex items-center gap-4">
              <img src={src(input.upload)} alt="The input image" width={input.width} height={input.height} className="pixelated size-24 rounded-md bg-neutral-900 object-contain" />
              <h1 className="text-3xl font-semibold tracking-tight sm:text-4xl">An uploaded image</h1>
            </div>
          )}
        </div>
        {description && (
          <div className="text-right">
            <p className="font-mono text-4xl font-semibold tabular-nums">{significant(description.uncertainty, 3)}</p>
            <p className="text-base text-neutral-400">uncertainty · {percentileText(description.percentile, description.modality)}</p>
          </div>
        )}
      </header>

      <main className="flex min-h-0 flex-1 items-center justify-center px-4 py-6 [container-type:size]">
        <GridLayout
          plan={run.request.plan}
          rows={rows}
          cols={cols}
          cells={cells}
          track="var(--cell)"
          scale="large"
          ariaLabel="Samples, mean row first"
          rowAttributes={(row) => ({
            "data-testid": "present-row",
            "data-revealed": String(row < revealed),
            "aria-hidden": row < revealed ? undefined : true,
            className: `col-span-full grid grid-cols-subgrid items-center transition-opacity duration-500 ${row < revealed ? "opacity-100" : "opacity-0"}`,
          })}
          renderCell={(row, col, cell) => (
            <div className="overflow-hidden rounded bg-neutral-900" style={{ aspectRatio: `${imageSize.width} / ${imageSize.height}` }}>
              {cell?.image && <img src={src(cell.image)} alt={`${rowLabelText(rowLabel(run.request.plan, cells, row))}, ${colLabel(col)}`} width={imageSize.width} height={imageSize.height} className="pixelated size-full object-cover" />}
            </div>
          )}
        />
      </main>

      <footer className="flex flex-wrap items-center gap-x-6 gap-y-2 px-6 pb-5 text-sm text-neutral-400 sm:px-10">
        <p aria-live="polite" className="font-mono tabular-nums text-neutral-200">
          Row {revealed} of {rows} · {lastLabel}
        </p>
        {run.status !== "done" && <p>{etaText(run.status, run.progress.etaSeconds)}</p>}
        <p className="ml-auto hidden sm:block">→ Space PgDn next row · ← PgUp back · Esc leave</p>
        <Link href={`/runs/${encodeURIComponent(run.id)}`} className="rounded-md px-2 py-1 text-neutral-300 hover:bg-neutral-800 hover:text-white">
          Leave presentation
        </Link>
      </footer>
    </div>
  );
}
