import { GridSkeleton, LoadingLabel, Skeleton } from "@/components/ui/Skeleton";

export default function RunLoading() {
  return (
    <main className="mx-auto flex w-full max-w-6xl flex-col gap-6 px-3 py-6 sm:px-6 sm:py-8">
      <LoadingLabel>Loading the run…</LoadingLabel>
      <div className="flex flex-col gap-3">
        <Skeleton className="h-9 w-96 max-w-full" />
        <Skeleton className="h-4 w-2/3" />
      </div>
      <div className="flex flex-col gap-1.5">
        <Skeleton className="h-1.5 w-full rounded-full" />
        <Skeleton className="h-4 w-40" />
      </div>
      <div className="flex flex-wrap gap-2">
        {Array.from({ length: 7 }, (_, i) => (
          <Skeleton key={i} className="h-9 w-32" />
        ))}
      </div>
      <div className="grid gap-6 lg:grid-cols-[minmax(0,1fr)_20rem]">
        <GridSkeleton />
        <Skeleton className="h-96 rounded-lg" />
      </div>
    </main>
  );
}
