import { LoadingLabel, Skeleton } from "@/components/ui/Skeleton";

export default function CompareLoading() {
  return (
    <main className="mx-auto flex w-full max-w-4xl flex-col gap-6 px-3 py-8 sm:px-6 sm:py-12">
      <LoadingLabel>Loading the comparison form…</LoadingLabel>
      <div className="flex flex-col gap-2">
        <Skeleton className="h-8 w-64" />
        <Skeleton className="h-4 w-full max-w-2xl" />
      </div>
      <div className="grid gap-3 sm:grid-cols-2">
        <Skeleton className="h-48 rounded-xl" />
        <Skeleton className="h-48 rounded-xl" />
        <Skeleton className="h-32 rounded-xl" />
      </div>
      <Skeleton className="h-40 rounded-xl" />
    </main>
  );
}
