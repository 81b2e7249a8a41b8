import type { Metadata } from "next";
import { CompareForm } from "@/components/compare/CompareForm";
import { loadPresets } from "@/components/server";

export const dynamic = "force-dynamic";
export const metadata: Metadata = { title: "Compare" };

export default async function ComparePage() {
  const presets = await loadPresets();
  return (
    <main className="mx-auto flex w-full max-w-4xl flex-col gap-6 px-3 py-8 sm:px-6 sm:py-12">
      <header className="flex flex-col gap-2">
        <h1 className="text-2xl font-semibold tracking-tight sm:text-3xl">Compare inputs</h1>
        <p className="max-w-2xl text-sm leading-relaxed text-muted text-pretty">
          Put two to four captions or images through the same plan and seed, for instance “a shape” against “a large red circle”, and see how much each one pins down.
        </p>
      </header>
      <CompareForm presets={presets} />
    </main>
  );
}
