interface ProgressBarProps {
  value: number;
  label: string;
  /** Animate as "waiting" instead of showing a fill, e.g. while queued. */
  indeterminate?: boolean;
  testId?: string;
  className?: string;
}

/** A thin run-level progress bar (0–100). */
export function ProgressBar({ value, label, indeterminate = false, testId, className = "" }: ProgressBarProps) {
  return (
    <div
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={value}
      data-testid={testId}
      className={`relative h-1.5 overflow-hidden rounded-full bg-sunken ring-1 ring-inset ring-line ${className}`}
    >
      {indeterminate ? (
        <div className="animate-indeterminate absolute inset-y-0 w-2/5 rounded-full bg-accent/40" />
      ) : (
        <div className="h-full rounded-full bg-accent transition-[width] duration-500 ease-out" style={{ width: `${value}%` }} />
      )}
    </div>
  );
}
