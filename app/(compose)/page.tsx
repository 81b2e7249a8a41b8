import { ComposeForm } from "@/components/compose/ComposeForm";
import { loadPresets, loadRunOrNull } from "@/components/server";

export const dynamic = "force-dynamic";

export default async function ComposePage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const { from } = await searchParams;
  const presets = await loadPresets();
  const run = typeof from === "string" && from ? await loadRunOrNull(from) : null;
  return (
    <main className="mx-auto flex w-full max-w-4xl flex-col gap-6 px-3 py-8 sm:px-6 sm:py-12">
      <header className="flex flex-col gap-2">
        <h1 className="text-2xl font-semibold tracking-tight text-balance sm:text-3xl">{run ? "Edit and re-run" : "What could a caption mean?"}</h1>
        <p className="max-w-2xl text-sm leading-relaxed text-muted text-pretty">
          Penumbra embeds a caption or an image with CLIP, spreads it into a ProbVLM distribution and decodes samples at growing distance from the mean:
          one row per step away from the mean, nearest first, with the numbers beside every image.
        </p>
        {typeof from === "string" && from && !run && (
          <p role="status" className="rounded-md bg-danger-soft px-3 py-2 text-sm text-danger">
            Run <span className="font-mono">{from}</span> was not found, so the form starts empty.
          </p>
        )}
      </header>
      {/* Keyed by the source run so navigating between ?from= links resets every field. */}
      <ComposeForm key={run?.id ?? "new"} presets={presets} from={run} />
    </main>
  );
}
