"use client";

import { useState } from "react";
import { postJson, readableError, type Run } from "../api";
import { button } from "../ui/styles";

interface RunErrorProps {
  run: Run;
  /** Called with the queued run the retry answered. */
  onRetried: (run: Run) => void;
}

/** Why a run failed or was cancelled, in the server's words, and a way to queue it again. */
export function RunError({ run, onRetried }: RunErrorProps) {
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);

  async function retry() {
    setBusy(true);
    setProblem(null);
    try {
      const { run: queued } = await postJson<{ run: Run }>(`/api/runs/${encodeURIComponent(run.id)}/retry`);
      onRetried(queued);
    } catch (error) {
      setProblem(readableError(error));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div role="alert" className="flex flex-col gap-3 rounded-lg border border-danger/40 bg-danger-soft px-4 py-3 sm:flex-row sm:items-center">
      <div className="min-w-0 flex-1 text-sm">
        <p className="font-medium text-danger">{run.status === "cancelled" ? "This run was cancelled." : "This run failed."}</p>
        <p data-testid="run-error" className="break-words text-fg">
          {run.error ?? (run.status === "cancelled" ? "It was stopped before it finished." : "No reason was recorded.")}
        </p>
        {problem && <p className="mt-1 text-danger">Retry refused: {problem}</p>}
      </div>
      <button type="button" data-testid="retry" onClick={retry} disabled={busy} className={button.secondary}>
        {busy ? "Retrying…" : "Retry"}
      </button>
    </div>
  );
}
