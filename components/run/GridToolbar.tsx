"use client";

import type { Description } from "../api";
import { significant } from "../format";
import { useViewPref } from "./useViewPref";
import type { ViewPrefValue } from "./viewPrefs";

const SIZES: { value: ViewPrefValue<"cellSize">; short: string; name: string }[] = [
  { value: "small", short: "S", name: "Small cells" },
  { value: "medium", short: "M", name: "Medium cells" },
  { value: "large", short: "L", name: "Large cells" },
];

/** The cell-size choice, shared by run and compare pages; remembered across pages and visits. */
export function CellSizeControl() {
  const [size, setSize] = useViewPref("cellSize");
  return (
    <div role="radiogroup" aria-label="Cell size" className="inline-flex items-center gap-1.5 text-xs text-muted">
      <span aria-hidden="true">Cells</span>
      <span className="inline-flex rounded-md border border-line bg-surface p-0.5">
        {SIZES.map(({ value, short, name }) => (
          <button
            key={value}
            type="button"
            role="radio"
            aria-checked={size === value}
            aria-label={name}
            title={name}
            data-testid={`cell-size-${value}`}
            onClick={() => setSize(value)}
            className="h-6 min-w-7 rounded-[5px] px-1.5 font-mono text-[11px] font-medium text-muted hover:text-fg aria-checked:bg-accent-soft aria-checked:text-fg"
          >
            {short}
          </button>
        ))}
      </span>
    </div>
  );
}

/**
 * Above the run grid: the cell size, and the uncertainty panel shown or folded away. Folded, the
 * grid takes the page's width and the panel's headline numbers stay in view here.
 */
export function GridToolbar({ description }: { description: Description | null }) {
  const [panel, setPanel] = useViewPref("panel");
  const hidden = panel === "hidden";
  return (
    <div className="flex flex-wrap items-center gap-x-4 gap-y-2 pb-3">
      <CellSizeControl />
      <button
        type="button"
        data-testid="panel-toggle"
        aria-pressed={!hidden}
        title={hidden ? "Show the uncertainty panel beside the grid" : "Fold the panel away and give the grid the page's width"}
        onClick={() => setPanel(hidden ? "shown" : "hidden")}
        className="inline-flex h-7 items-center gap-1.5 rounded-md border border-line bg-surface px-2 text-xs text-muted hover:text-fg aria-pressed:border-accent/50 aria-pressed:text-fg"
      >
        <svg viewBox="0 0 20 20" className="size-3.5" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinejoin="round">
          <rect x="3" y="4" width="14" height="12" rx="1.5" />
          <path d="M12.5 4v12" />
        </svg>
        Uncertainty panel
      </button>
      {/* Only while the panel is folded (CSS, so the first paint is already right). */}
      {description && (
        <p data-testid="panel-summary" className="hidden text-xs text-muted tabular-nums [html[data-panel=hidden]_&]:block">
          uncertainty <span className="font-mono text-fg">{significant(description.uncertainty, 3)}</span> · p{Math.round(description.percentile)}
          {description.outOfDistribution?.flagged && <span className="text-warn"> · outside the preset</span>}
        </p>
      )}
    </div>
  );
}
