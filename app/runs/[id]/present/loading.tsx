export default function PresentLoading() {
  return (
    <div className="fixed inset-0 z-50 flex flex-col gap-8 bg-[#0b0c0e] px-10 pt-8" role="status" aria-label="Loading the presentation">
      <div className="h-12 w-2/3 animate-pulse rounded-md bg-neutral-800" />
      <div className="flex flex-1 items-center justify-center">
        <div className="h-40 w-[36rem] max-w-full animate-pulse rounded-md bg-neutral-900" />
      </div>
    </div>
  );
}
