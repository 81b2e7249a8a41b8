/** A quiet placeholder block for loading.tsx layouts. */
export function Skeleton({ className = "" }: { className?: string }) {
  return <div aria-hidden="true" className={`animate-pulse rounded-md bg-sunken ${className}`} />;
}

/** The grid's shape before a run is known: label column plus `cols` square cells per row. */
export function GridSkeleton({ rows = 5, cols = 4, track = "minmax(0, 9rem)" }: { rows?: number; cols?: number; track?: string }) {
  return (
    <div aria-hidden="true" className="grid gap-1.5 sm:gap-2" style={{ gridTemplateColumns: `3.5rem repeat(${cols}, ${track})` }}>
      <span />
      {Array.from({ length: cols }, (_, col) => (
        <Skeleton key={col} className="mx-auto h-3 w-12" />
      ))}
      {Array.from({ length: rows }, (_, row) => [
        <Skeleton key={`l${row}`} className="h-4 w-12 self-center" />,
        ...Array.from({ length: cols }, (_, col) => <Skeleton key={`${row}-${col}`} className="aspect-square w-full rounded-[3px]" />),
      ])}
    </div>
  );
}

/** Announces loading to assistive technology while the skeleton shows. */
export function LoadingLabel({ children }: { children: string }) {
  return (
    <p role="status" className="sr-only">
      {children}
    </p>
  );
}
