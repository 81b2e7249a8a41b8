import type { Cell } from "../api";
import { cellMetrics } from "../format";

/** A cell's numbers as a compact two-column list; used by the hover card and the lightbox. */
export function CellMetricList({ cell, className = "" }: { cell: Cell; className?: string }) {
  return (
    <dl className={`grid grid-cols-[auto_1fr] gap-x-3 gap-y-0.5 text-xs tabular-nums ${className}`}>
      {cellMetrics(cell).map(({ label, value, hint }) => (
        <div key={label} className="contents">
          <dt className="text-muted" title={hint}>
            {label}
          </dt>
          <dd className="text-right font-mono">{value}</dd>
        </div>
      ))}
    </dl>
  );
}
