"use client";

import Link from "next/link";
import type { Run } from "../api";
import { inputTitle } from "../format";
import { Grid } from "../run/Grid";
import { OodWarning } from "../run/OodWarning";
import { RunInput } from "../run/RunInput";
import { RunProgress } from "../run/RunProgress";
import { UncertaintyReading } from "../run/UncertaintyPanel";
import { useRunStream } from "../run/useRunStream";
import { StatusBadge } from "../ui/StatusBadge";

/**
 * One run of a comparison, following its own stream. Its four parts sit on the parent's shared
 * rows (subgrid), so captions, readings and grids line up across columns whatever their lengths.
 */
export function CompareColumn({ initial }: { initial: Run }) {
  const { run, live } = useRunStream(initial);
  return (
    <section data-testid="compare-column" aria-label={inputTitle(run.request.input)} className="row-span-4 grid min-w-0 grid-rows-subgrid gap-3 rounded-xl border border-line bg-surface p-3 shadow-sm sm:p-4">
      <div className="flex items-start justify-between gap-3">
        <RunInput input={run.request.input} size="small" />
        <StatusBadge status={run.status} />
      </div>
      <div data-testid="compare-uncertainty" className="flex min-h-16 flex-col gap-3">
        <OodWarning description={run.description} presetName={run.preset.name} size="small" />
        {run.description ? <UncertaintyReading description={run.description} size="small" /> : <p className="text-sm text-muted">Uncertainty appears once the run starts.</p>}
      </div>
      <div className="flex flex-col gap-2">
        <RunProgress run={run} />
        {run.error && <p className="text-xs text-danger">{run.error}</p>}
      </div>
      <div className="flex min-w-0 flex-col gap-3">
        <div className="overflow-x-auto pb-1">
          <Grid run={run} live={live} testId="compare-grid" size="compact" ariaLabel={`Samples for ${inputTitle(run.request.input)}`} />
        </div>
        <Link href={`/runs/${encodeURIComponent(run.id)}`} className="self-start text-xs font-medium text-accent hover:underline">
          Open this run →
        </Link>
      </div>
    </section>
  );
}
