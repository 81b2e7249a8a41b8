import type { RunStatus } from "../api";

const STYLES: Record<RunStatus, { text: string; dot: string }> = {
  queued: { text: "Queued", dot: "bg-faint" },
  running: { text: "Running", dot: "bg-accent animate-pulse" },
  done: { text: "Done", dot: "bg-ok" },
  failed: { text: "Failed", dot: "bg-danger" },
  cancelled: { text: "Cancelled", dot: "bg-danger" },
};

/** The run's status as a dot and a word; announced politely when it changes. */
export function StatusBadge({ status, testId }: { status: RunStatus; testId?: string }) {
  const style = STYLES[status];
  return (
    <span
      data-testid={testId}
      data-status={status}
      role="status"
      aria-live="polite"
      className="inline-flex items-center gap-1.5 rounded-full border border-line bg-surface px-2.5 py-0.5 text-xs font-medium"
    >
      <span className={`size-1.5 rounded-full ${style.dot}`} aria-hidden="true" />
      {style.text}
    </span>
  );
}
