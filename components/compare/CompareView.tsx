import type { Comparison } from "../api";
import { CellSizeControl } from "../run/GridToolbar";
import { RunSettings } from "../run/RunSettings";
import { CompareColumn } from "./CompareColumn";

// Side by side only where each grid still gets room for its cells: four inputs go two by two below 1536 px.
const COLUMNS: Record<number, string> = { 2: "md:grid-cols-2", 3: "lg:grid-cols-3", 4: "md:grid-cols-2 2xl:grid-cols-4" };

/** The runs of a comparison side by side (stacked on phones), each live until it is done. */
export function CompareView({ comparison }: { comparison: Comparison }) {
  const first = comparison.runs[0];
  return (
    <main className="mx-auto flex w-full max-w-[120rem] flex-col gap-6 px-3 py-6 sm:px-6 sm:py-8">
      <header className="flex flex-col gap-2">
        <h1 className="text-2xl font-semibold tracking-tight">Comparison of {comparison.runs.length} inputs</h1>
        <p className="text-sm text-muted">Same plan, seed and settings for every input: read the grids row by row against each other.</p>
        {first && <RunSettings run={first} />}
        <div className="pt-1">
          <CellSizeControl />
        </div>
      </header>
      <div className={`grid gap-x-4 ${COLUMNS[comparison.runs.length] ?? "md:grid-cols-2"}`}>
        {comparison.runs.map((run) => (
          <CompareColumn key={run.id} initial={run} />
        ))}
      </div>
    </main>
  );
}
