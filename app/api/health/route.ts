import { listPresets, openPreset } from "@/lib/engine/index";

export const dynamic = "force-dynamic";

export async function GET() {
  const engine = await openPreset(listPresets()[0]);
  return Response.json({ status: "ok", providers: engine.providers() });
}
