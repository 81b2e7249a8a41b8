import { getRunService } from "@/lib/runs/index";
import { respond } from "../respond";

export const dynamic = "force-dynamic";

export function GET() {
  return respond(async () => Response.json({ presets: await (await getRunService()).presets() }));
}
