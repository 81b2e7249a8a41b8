import { LoadingLabel, Skeleton } from "@/components/ui/Skeleton";

export default function ComposeLoading() {
  return (
    <main className="mx-auto flex w-full max-w-4xl flex-col gap-6 px-3 py-8 sm:px-6 sm:py-12">
      <LoadingLabel>Loading the compose form…</LoadingLabel>
      <div className="flex flex-col gap-2">
        <Skeleton className="h-8 w-80 max-w-full" />
        <Skeleton className="h-4 w-full max-w-2xl" />
        <Skeleton className="h-4 w-2/3" />
      </div>
      <div className="flex flex-col gap-3 rounded-xl border border-line bg-surface p-4 sm:p-5">
        <div className="grid gap-3 md:grid-cols-[minmax(0,1fr)_15rem]">
          <Skeleton className="h-[9.5rem]" />
          <Skeleton className="h-[9.5rem]" />
        </div>
        <Skeleton className="h-6 w-3/4" />
      </div>
      <div className="flex flex-col gap-4 rounded-xl border border-line bg-surface p-4 sm:p-5">
        <Skeleton className="h-14" />
        <Skeleton className="h-4 w-1/2" />
        <Skeleton className="h-10" />
      </div>
    </main>
  );
}
