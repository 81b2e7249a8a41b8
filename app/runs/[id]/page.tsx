import type { Metadata } from "next";
import { RunView } from "@/components/run/RunView";
import { inputTitle } from "@/components/format";
import { loadRun } from "@/components/server";

export const dynamic = "force-dynamic";

export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  const run = await loadRun((await params).id);
  return { title: run.request.input.kind === "caption" ? inputTitle(run.request.input) : `Image run ${run.id}` };
}

export default async function RunPage({ params }: { params: Promise<{ id: string }> }) {
  const run = await loadRun((await params).id);
  return <RunView initial={run} />;
}
