import { LoadingLabel, Skeleton } from "@/components/ui/Skeleton";

export default function GalleryLoading() {
  return (
    <main className="mx-auto flex w-full max-w-6xl flex-col gap-6 px-3 py-8 sm:px-6 sm:py-12">
      <LoadingLabel>Loading the gallery…</LoadingLabel>
      <div className="flex flex-col gap-4 sm:flex-row sm:items-end sm:justify-between">
        <div className="flex flex-col gap-2">
          <Skeleton className="h-8 w-40" />
          <Skeleton className="h-4 w-56" />
        </div>
        <Skeleton className="h-9 w-full max-w-md" />
      </div>
      <div className="grid grid-cols-1 gap-4 min-[480px]:grid-cols-2 md:grid-cols-3 lg:grid-cols-4">
        {Array.from({ length: 8 }, (_, i) => (
          <Skeleton key={i} className="h-72 rounded-xl" />
        ))}
      </div>
    </main>
  );
}
