import Link from "next/link";
import { imageUrl, type GalleryCard as Card } from "../api";
import { dateTime, percentileText, significant } from "../format";
import { RunSettings } from "../run/RunSettings";

/** A published run: its mean image large, the λ = 1 row beside it, the caption and its reading. */
export function GalleryCard({ card }: { card: Card }) {
  const title = card.caption ?? "An uploaded image";
  return (
    <Link
      href={`/runs/${encodeURIComponent(card.id)}`}
      data-testid="gallery-card"
      className="group flex w-full flex-col gap-3 rounded-xl border border-line bg-surface p-3 shadow-sm transition-colors hover:border-line-strong hover:shadow"
    >
      <div className="flex gap-2">
        <figure className="flex w-2/5 shrink-0 flex-col gap-1">
          <img src={imageUrl(card.meanImage)} alt={`Mean image for ${title}`} className="pixelated aspect-square w-full rounded bg-sunken object-cover" />
          <figcaption className="font-mono text-[10px] text-faint">mean</figcaption>
        </figure>
        <figure className="flex min-w-0 flex-1 flex-col gap-1 self-end">
          <div className="grid grid-cols-2 gap-1">
            {card.row.slice(0, 4).map((sha, i) => (
              <img key={i} src={imageUrl(sha)} alt="" className="pixelated aspect-square w-full rounded-sm bg-sunken object-cover" />
            ))}
          </div>
          <figcaption className="font-mono text-[10px] text-faint tabular-nums">{card.rowLabel}</figcaption>
        </figure>
      </div>
      <div className="flex flex-col gap-1">
        <p className={`line-clamp-2 font-medium leading-snug group-hover:text-accent ${card.caption ? "" : "italic text-muted"}`}>{card.caption ? `“${card.caption}”` : title}</p>
        {card.outOfDistribution && (
          <p
            data-testid="ood-badge"
            title="This input lies outside what the preset was trained on; its samples say little about it."
            className="inline-flex items-center gap-1 self-start rounded-full border border-warn/40 bg-warn/10 px-2 py-0.5 text-[11px] font-medium text-warn"
          >
            <svg viewBox="0 0 20 20" className="size-3" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round">
              <path d="M10 3.2 2.6 16.3h14.8L10 3.2Z" />
              <path d="M10 8.7v3M10 14.2v.1" />
            </svg>
            outside the preset
          </p>
        )}
        <p className="text-xs text-muted tabular-nums">
          <span className="font-mono text-fg">{significant(card.uncertainty, 3)}</span> · {percentileText(card.percentile, card.modality)}
        </p>
        <div data-testid="gallery-card-settings" className="border-t border-line pt-1.5 [&_dl]:gap-x-2.5 [&_dl]:text-[11px]">
          <RunSettings run={{ preset: card.preset, request: card.settings, rows: card.rows, cols: card.cols }} />
        </div>
        <p className="text-[11px] text-faint">Published {dateTime(card.publishedAt)}</p>
      </div>
    </Link>
  );
}
