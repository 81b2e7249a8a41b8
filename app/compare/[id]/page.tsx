import type { Metadata } from "next";
import { CompareView } from "@/components/compare/CompareView";
import { loadComparison } from "@/components/server";

export const dynamic = "force-dynamic";

export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  const comparison = await loadComparison((await params).id);
  const names = comparison.runs.map((run) => (run.request.input.kind === "caption" ? `“${run.request.input.text}”` : "image"));
  return { title: names.join(" vs ") };
}

export default async function ComparisonPage({ params }: { params: Promise<{ id: string }> }) {
  return <CompareView comparison={await loadComparison((await params).id)} />;
}
