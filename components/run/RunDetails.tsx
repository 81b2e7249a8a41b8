import type { Run } from "../api";
import { dateTime, duration } from "../format";

/** Providers, timings and provenance, folded away: useful when checking a result, noise otherwise. */
export function RunDetails({ run }: { run: Run }) {
  const providers = Object.entries(run.providers ?? {});
  return (
    <details className="group rounded-lg border border-line bg-surface text-sm">
      <summary className="flex cursor-pointer list-none items-center justify-between rounded-lg px-4 py-3 text-xs font-semibold uppercase tracking-wider text-muted hover:text-fg">
        Providers and timings
        <svg viewBox="0 0 20 20" className="size-4 transition-transform group-open:rotate-180" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round">
          <path d="m5 8 5 5 5-5" />
        </svg>
      </summary>
      <div className="flex flex-col gap-4 border-t border-line px-4 py-3 text-xs tabular-nums">
        <section>
          <h3 className="mb-1.5 font-medium text-muted">Execution providers</h3>
          {providers.length ? (
            <ul className="flex flex-col gap-1">
              {providers.map(([model, choice]) => (
                <li key={model}>
                  <span className="flex justify-between gap-3">
                    <span>{model}</span>
                    <span className="font-mono">{choice.provider}</span>
                  </span>
                  {choice.skipped.map((skip) => (
                    <span key={skip.provider} className="block text-faint">
                      {skip.provider} skipped: {skip.reason}
                    </span>
                  ))}
                </li>
              ))}
            </ul>
          ) : (
            <p className="text-faint">Known once the run starts.</p>
          )}
        </section>
        <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1">
          {run.timings && (
            <>
              <dt className="text-muted">Describe</dt>
              <dd className="text-right font-mono">{duration(run.timings.describeMs)}</dd>
              <dt className="text-muted">Decode</dt>
              <dd className="text-right font-mono">{duration(run.timings.decodeMs)}</dd>
              <dt className="text-muted">Total</dt>
              <dd className="text-right font-mono">{duration(run.timings.totalMs)}</dd>
            </>
          )}
          <dt className="text-muted">Created</dt>
          <dd className="text-right">{dateTime(run.createdAt)}</dd>
          {run.finishedAt && (
            <>
              <dt className="text-muted">Finished</dt>
              <dd className="text-right">{dateTime(run.finishedAt)}</dd>
            </>
          )}
          <dt className="text-muted">Run</dt>
          <dd className="text-right font-mono">{run.id}</dd>
          <dt className="text-muted">Preset</dt>
          <dd className="truncate text-right font-mono" title={run.preset.digest}>
            {run.preset.name} · {run.preset.digest.slice(0, 12)}
          </dd>
        </dl>
      </div>
    </details>
  );
}
