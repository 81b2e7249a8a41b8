import type { Run } from "../api";
import { planSummary } from "../format";

type Settings = Pick<Run["request"], "plan" | "seed" | "steps" | "scheduler" | "guidanceScale" | "noiseLevel">;

/** The settings a run was made with, as one quiet line of label/value pairs (also on gallery cards). */
export function RunSettings({ run }: { run: { preset: Pick<Run["preset"], "name">; request: Settings; rows: number; cols: number } }) {
  const { request } = run;
  const items: [string, string][] = [
    ["preset", run.preset.name],
    ["plan", planSummary(request.plan)],
    ["grid", `${run.rows} × ${run.cols}`],
    ["seed", String(request.seed)],
    ["steps", String(request.steps)],
    ["scheduler", request.scheduler],
    ["guidance", String(request.guidanceScale)],
    ["noise", String(request.noiseLevel)],
  ];
  return (
    <dl className="flex flex-wrap gap-x-4 gap-y-1 text-xs text-muted tabular-nums">
      {items.map(([name, value]) => (
        <div key={name} className="flex gap-1">
          <dt>{name}</dt>
          <dd className="font-mono text-fg">{value}</dd>
        </div>
      ))}
    </dl>
  );
}
