import type { ReactNode } from "react";
import { loadRun } from "@/components/server";

/*
 * Looks the run up above the pages' loading boundaries: a missing run then answers 404 (app/runs/not-found.tsx)
 * before anything streams, where a page's own notFound() would already have sent 200 with its skeleton.
 */
export default async function RunLayout({ children, params }: { children: ReactNode; params: Promise<{ id: string }> }) {
  await loadRun((await params).id);
  return children;
}
