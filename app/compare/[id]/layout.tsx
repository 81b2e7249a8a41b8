import type { ReactNode } from "react";
import { loadComparison } from "@/components/server";

/* As for runs: a missing comparison answers 404 (app/compare/not-found.tsx) before the loading boundary streams. */
export default async function ComparisonLayout({ children, params }: { children: ReactNode; params: Promise<{ id: string }> }) {
  await loadComparison((await params).id);
  return children;
}
