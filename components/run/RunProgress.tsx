import type { Run } from "../api";
import { etaText, progressPercent } from "../format";
import { ProgressBar } from "../ui/ProgressBar";

/** Run-level progress: a bar over the UNet evaluations and the time left in words. */
export function RunProgress({ run }: { run: Pick<Run, "status" | "progress" | "timings"> }) {
  const percent = progressPercent(run.status, run.progress);
  const { cellsDone, cellsTotal } = run.progress;
  return (
    <div className="flex flex-col gap-1.5">
      <ProgressBar testId="run-progress" value={percent} label="Run progress" indeterminate={run.status === "queued"} />
      <div className="flex justify-between gap-3 text-xs text-muted tabular-nums">
        <span data-testid="run-eta">{etaText(run.status, run.progress.etaSeconds, run.timings?.totalMs ?? null)}</span>
        {cellsTotal > 0 && (
          <span>
            {cellsDone} / {cellsTotal} cells · {percent}%
          </span>
        )}
      </div>
    </div>
  );
}
