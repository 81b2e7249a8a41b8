import type { Metadata } from "next";
import Link from "next/link";
import { GalleryCard } from "@/components/gallery/GalleryCard";
import { GalleryPager } from "@/components/gallery/GalleryPager";
import { GallerySearch } from "@/components/gallery/GallerySearch";
import { loadGallery } from "@/components/server";

export const dynamic = "force-dynamic";
export const metadata: Metadata = { title: "Gallery" };

export default async function GalleryPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const params = await searchParams;
  const q = typeof params.q === "string" ? params.q.trim() : "";
  // The first of repeated ?page= values, as the API reads it.
  const gallery = await loadGallery(q, [params.page].flat()[0] ?? "1");

  return (
    <main className="mx-auto flex w-full max-w-6xl flex-col gap-6 px-3 py-8 sm:px-6 sm:py-12">
      <header className="flex flex-col gap-4 sm:flex-row sm:items-end sm:justify-between">
        <div className="flex flex-col gap-1">
          <h1 className="text-2xl font-semibold tracking-tight sm:text-3xl">Gallery</h1>
          <p className="text-sm text-muted tabular-nums">
            {q ? `${gallery.total} published ${gallery.total === 1 ? "run matches" : "runs match"} “${q}”` : `${gallery.total} published ${gallery.total === 1 ? "run" : "runs"}, newest first`}
          </p>
        </div>
        <GallerySearch q={q} />
      </header>
      {gallery.runs.length === 0 ? (
        <div data-testid="gallery-empty" className="flex flex-col items-center gap-2 rounded-xl border border-dashed border-line-strong px-6 py-16 text-center">
          <p className="font-medium">{q ? `No published run matches “${q}”.` : "Nothing has been published yet."}</p>
          <p className="text-sm text-muted">
            {q ? (
              <Link href="/gallery" className="text-accent hover:underline">
                Show every published run
              </Link>
            ) : (
              <>
                Open a finished run and choose <span className="font-medium text-fg">Publish to gallery</span>, or{" "}
                <Link href="/" className="text-accent hover:underline">
                  compose one
                </Link>
                .
              </>
            )}
          </p>
        </div>
      ) : (
        <ul className="grid grid-cols-1 gap-4 min-[480px]:grid-cols-2 md:grid-cols-3 lg:grid-cols-4">
          {gallery.runs.map((card) => (
            <li key={card.id} className="flex">
              <GalleryCard card={card} />
            </li>
          ))}
        </ul>
      )}
      {gallery.pages > 1 && <GalleryPager q={q} page={gallery.page} pages={gallery.pages} />}
    </main>
  );
}
