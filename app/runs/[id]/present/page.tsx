import type { Metadata } from "next";
import { PresentStage } from "@/components/present/PresentStage";
import { inputTitle } from "@/components/format";
import { loadRun } from "@/components/server";

export const dynamic = "force-dynamic";

export async function generateMetadata({ params }: { params: Promise<{ id: string }> }): Promise<Metadata> {
  const run = await loadRun((await params).id);
  return { title: `Presenting ${inputTitle(run.request.input)}` };
}

export default async function PresentPage({ params }: { params: Promise<{ id: string }> }) {
  return <PresentStage initial={await loadRun((await params).id)} />;
}
