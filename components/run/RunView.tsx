"use client";

import type { Run } from "../api";
import { inputTitle, startsAtMean } from "../format";
import { StatusBadge } from "../ui/StatusBadge";
import { Grid } from "./Grid";
import { GridLegend } from "./GridLegend";
import { GridToolbar } from "./GridToolbar";
import { OodWarning } from "./OodWarning";
import { RunActions } from "./RunActions";
import { RunDetails } from "./RunDetails";
import { RunError } from "./RunError";
import { RunInput } from "./RunInput";
import { RunProgress } from "./RunProgress";
import { RunSettings } from "./RunSettings";
import { UncertaintyPanel } from "./UncertaintyPanel";
import { useRunStream } from "./useRunStream";

/** The run permalink: rendered from the server's snapshot, then kept live by the event stream. */
export function RunView({ initial }: { initial: Run }) {
  const { run, live, replace, resubscribe } = useRunStream(initial);
  const ended = run.status === "failed" || run.status === "cancelled";

  return (
    <main className="mx-auto flex w-full max-w-[88rem] flex-col gap-6 px-3 py-6 sm:px-6 sm:py-8">
      <header className="flex flex-col gap-3">
        <div className="flex flex-wrap items-start justify-between gap-3">
          <RunInput input={run.request.input} />
          <StatusBadge status={run.status} testId="run-status" />
        </div>
        <RunSettings run={run} />
      </header>

      <RunProgress run={run} />
      {ended && (
        <RunError
          run={run}
          onRetried={(queued) => {
            replace(queued);
            resubscribe();
          }}
        />
      )}
      <RunActions run={run} onPublished={replace} />
      <OodWarning description={run.description} presetName={run.preset.name} />

      {/*
        Wide: the legend and the folded details sit under the grid, beside the panel. Narrow: after
        the panel, so the numbers come first. Nothing sits under the panel: it grows when the run
        is described, and whatever sat below it would jump.
      */}
      <div className="grid gap-6 lg:grid-cols-[minmax(0,1fr)_20rem] lg:grid-rows-[auto_1fr] lg:[html[data-panel=hidden]_&]:grid-cols-1">
        <section aria-label="Samples" className="min-w-0">
          <GridToolbar description={run.description} />
          <div className="overflow-x-auto pb-2">
            <Grid run={run} live={live} testId="run-grid" ariaLabel={`Samples for ${inputTitle(run.request.input)}, ${startsAtMean(run.request.plan) ? "mean row first" : "nearest row first"}`} />
          </div>
        </section>
        <aside data-testid="uncertainty-aside" className="flex flex-col gap-4 lg:col-start-2 lg:row-span-2 lg:row-start-1 [html[data-panel=hidden]_&]:hidden">
          <UncertaintyPanel description={run.description} />
        </aside>
        <div className="flex min-w-0 flex-col gap-4 self-start lg:col-start-1 lg:row-start-2">
          <GridLegend plan={run.request.plan} description={run.description} input={run.request.input.kind} />
          <RunDetails run={run} />
        </div>
      </div>
    </main>
  );
}
