import type { Cell } from "../api";
import { cellMetricGroups } from "../format";

/**
 * A cell's numbers as compact two-column lists, decoder side first (how far what the decoder was
 * given lies from the mean's), then the sampling space's; used by the hover card and the lightbox.
 */
export function CellMetricList({ cell, className = "" }: { cell: Cell; className?: string }) {
  const groups = cellMetricGroups(cell);
  return (
    <div className={`flex flex-col gap-2 text-xs tabular-nums ${className}`}>
      {groups.map((group, i) => (
        <section key={group.space} data-testid={`cell-metrics-${group.space}`} className={i > 0 ? "border-t border-line pt-2" : ""}>
          <h3 className={`mb-1 text-[10px] font-semibold uppercase tracking-wider ${group.space === "decoder" ? "text-fg" : "text-faint"}`}>{group.title}</h3>
          <dl className={`grid grid-cols-[auto_1fr] gap-x-3 gap-y-0.5 ${group.space === "sampling" && groups.length > 1 ? "text-muted" : ""}`}>
            {group.metrics.map(({ label, value, hint }) => (
              <div key={label} className="contents">
                <dt className="text-muted" title={hint}>
                  {label}
                </dt>
                <dd className="text-right font-mono">{value}</dd>
              </div>
            ))}
          </dl>
        </section>
      ))}
      {groups.length === 1 && <p className="text-[10px] leading-snug text-faint">This run was made before the decoder-side angle was measured.</p>}
    </div>
  );
}
