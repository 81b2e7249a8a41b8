"use client";

import { useEffect, useRef, useState, type KeyboardEvent } from "react";
import { imageUrl, type Cell, type Plan } from "../api";
import { cellFileName, cellLabel, colLabel, startsAtMean } from "../format";
import { CellMetricList } from "./CellMetrics";

interface LightboxProps {
  runId: string;
  plan: Plan;
  rows: number;
  cols: number;
  cells: Cell[];
  byPosition: Map<number, Cell>;
  imageSize: { width: number; height: number };
  /** row × cols + col of the cell shown. */
  position: number;
  onMove: (position: number) => void;
  onClose: (lastPosition: number) => void;
}

const MOVES: Record<string, [number, number]> = { ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0] };

/**
 * One cell enlarged in a modal dialog, with its numbers and a download of its PNG. "Compare with
 * the mean" puts the same sample's mean-row cell beside it (plans with a mean row), and stays on
 * while arrow keys or buttons walk the grid; Escape closes.
 */
export function Lightbox({ runId, plan, rows, cols, cells, byPosition, imageSize, position, onMove, onClose }: LightboxProps) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [withMean, setWithMean] = useState(false);
  const row = Math.floor(position / cols);
  const col = position % cols;
  const cell = byPosition.get(position);
  const label = cellLabel(plan, cells, row, col);
  const hasMean = startsAtMean(plan);
  const comparing = withMean && hasMean && row > 0;
  const meanCell = byPosition.get(col);

  useEffect(() => {
    const node = dialog.current;
    if (node && !node.open) node.showModal();
  }, []);

  // Closing the modal first lifts the page's inertness, so the parent can focus the cell again.
  function close() {
    dialog.current?.close();
    onClose(position);
  }

  function move(drow: number, dcol: number) {
    const r = Math.min(rows - 1, Math.max(0, row + drow));
    const c = Math.min(cols - 1, Math.max(0, col + dcol));
    onMove(r * cols + c);
  }

  function onKeyDown(event: KeyboardEvent<HTMLDialogElement>) {
    const step = MOVES[event.key];
    if (!step) return;
    event.preventDefault();
    move(step[0], step[1]);
  }

  const aspectRatio = `${imageSize.width} / ${imageSize.height}`;
  return (
    <dialog
      ref={dialog}
      data-testid="lightbox"
      aria-label={`Enlarged cell: ${label}`}
      onKeyDown={onKeyDown}
      onCancel={(event) => {
        event.preventDefault();
        close();
      }}
      onClick={(event) => event.target === dialog.current && close()}
      className="m-auto max-h-[calc(100dvh-2rem)] w-[min(76rem,calc(100vw-2rem))] overflow-auto rounded-lg border border-line bg-surface p-0 text-fg shadow-2xl backdrop:bg-black/70"
    >
      <div className="flex flex-wrap items-center gap-x-3 gap-y-2 border-b border-line px-4 py-3">
        <h2 data-testid="lightbox-title" className="min-w-0 font-mono text-sm font-medium tabular-nums">
          {label}
        </h2>
        <span className="ml-auto hidden text-xs text-faint md:inline">← ↑ → ↓ move · Esc closes</span>
        <div className="ml-auto flex items-center gap-1.5 md:ml-0">
          {hasMean && (
            <button
              type="button"
              data-testid="lightbox-compare-mean"
              aria-pressed={withMean}
              disabled={row === 0}
              title={row === 0 ? "This is the mean row" : "Show this sample's mean-row cell beside it"}
              onClick={() => setWithMean((on) => !on)}
              className="inline-flex h-8 items-center rounded-md border border-line px-2.5 text-xs text-muted hover:bg-sunken hover:text-fg disabled:opacity-40 aria-pressed:border-accent/60 aria-pressed:bg-accent-soft aria-pressed:text-fg"
            >
              Compare with the mean
            </button>
          )}
          {cell?.image ? (
            <a
              data-testid="lightbox-download"
              href={imageUrl(cell.image)}
              download={`penumbra-${runId}-${cellFileName(row, col)}`}
              className="inline-flex h-8 items-center gap-1.5 rounded-md border border-line px-2.5 text-xs text-muted hover:bg-sunken hover:text-fg"
            >
              <svg viewBox="0 0 20 20" className="size-4" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round" strokeLinejoin="round">
                <path d="M10 3v10m-4-4 4 4 4-4M4 16h12" />
              </svg>
              Download PNG
            </a>
          ) : null}
          <button type="button" onClick={close} aria-label="Close" className="inline-flex size-8 items-center justify-center rounded-md text-muted hover:bg-sunken hover:text-fg">
            <svg viewBox="0 0 20 20" className="size-4" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round">
              <path d="M5 5l10 10M15 5 5 15" />
            </svg>
          </button>
        </div>
      </div>
      <div className="grid gap-4 p-4 md:grid-cols-[minmax(0,1fr)_13rem]">
        <div className={`grid items-start gap-3 ${comparing ? "grid-cols-2" : ""}`}>
          {comparing && (
            <figure data-testid="lightbox-mean" className="flex min-w-0 flex-col gap-1.5">
              <LargeCell image={meanCell?.image ?? null} alt={`The mean row's cell of ${colLabel(col)}`} imageSize={imageSize} aspectRatio={aspectRatio} />
              <figcaption className="text-center text-xs text-muted">mean · {colLabel(col)}</figcaption>
            </figure>
          )}
          <figure className="flex min-w-0 flex-col gap-1.5">
            <LargeCell image={cell?.image ?? null} alt={label} imageSize={imageSize} aspectRatio={aspectRatio} testId="lightbox-image" />
            {comparing && <figcaption className="text-center text-xs text-muted">this cell</figcaption>}
          </figure>
        </div>
        <div className="flex flex-col gap-4">
          {cell ? <CellMetricList cell={cell} className="text-sm" /> : <p className="text-sm text-muted">Metrics appear once the run is described.</p>}
          <div className="mt-auto grid grid-cols-3 gap-1 self-center md:self-stretch" aria-label="Move">
            <span />
            <NavButton label="Previous row" onClick={() => move(-1, 0)} disabled={row === 0} d="M10 15V5M5 10l5-5 5 5" />
            <span />
            <NavButton label="Previous sample" onClick={() => move(0, -1)} disabled={col === 0} d="M15 10H5m5-5-5 5 5 5" />
            <span />
            <NavButton label="Next sample" onClick={() => move(0, 1)} disabled={col === cols - 1} d="M5 10h10m-5-5 5 5-5 5" />
            <span />
            <NavButton label="Next row" onClick={() => move(1, 0)} disabled={row === rows - 1} d="M10 5v10m-5-5 5 5 5-5" />
            <span />
          </div>
        </div>
      </div>
    </dialog>
  );
}

/** As large as the dialog allows while the whole image stays on screen. */
function LargeCell({ image, alt, imageSize, aspectRatio, testId }: { image: string | null; alt: string; imageSize: { width: number; height: number }; aspectRatio: string; testId?: string }) {
  return (
    <div className="relative mx-auto w-full max-w-[min(100%,calc(100dvh-9rem))]" style={{ aspectRatio }}>
      {image ? (
        <img data-testid={testId} src={imageUrl(image)} alt={alt} width={imageSize.width} height={imageSize.height} className="pixelated size-full rounded-sm bg-sunken object-contain" />
      ) : (
        <div className="flex size-full items-center justify-center rounded-sm bg-sunken text-sm text-muted">Not decoded yet</div>
      )}
    </div>
  );
}

function NavButton({ label, onClick, disabled, d }: { label: string; onClick: () => void; disabled: boolean; d: string }) {
  return (
    <button type="button" aria-label={label} title={label} onClick={onClick} disabled={disabled} className="inline-flex h-8 items-center justify-center rounded-md border border-line text-muted hover:bg-sunken hover:text-fg disabled:opacity-35">
      <svg viewBox="0 0 20 20" className="size-4" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round">
        <path d={d} />
      </svg>
    </button>
  );
}
