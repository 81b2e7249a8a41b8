import { GridSkeleton, LoadingLabel, Skeleton } from "@/components/ui/Skeleton";

export default function ComparisonLoading() {
  return (
    <main className="mx-auto flex w-full max-w-7xl flex-col gap-6 px-3 py-6 sm:px-6 sm:py-8">
      <LoadingLabel>Loading the comparison…</LoadingLabel>
      <div className="flex flex-col gap-2">
        <Skeleton className="h-8 w-72" />
        <Skeleton className="h-4 w-1/2" />
      </div>
      <div className="grid gap-4 md:grid-cols-2">
        {[0, 1].map((i) => (
          <div key={i} className="flex flex-col gap-3 rounded-xl border border-line bg-surface p-3 sm:p-4">
            <Skeleton className="h-7 w-2/3" />
            <Skeleton className="h-16" />
            <Skeleton className="h-1.5 rounded-full" />
            <GridSkeleton track="minmax(0, 7.5rem)" />
          </div>
        ))}
      </div>
    </main>
  );
}
