import { getRunService } from "@/lib/runs/index";
import { apiRoute, respond } from "../respond";

export const dynamic = "force-dynamic";

function health() {
  return respond(async () => Response.json(await (await getRunService()).health(), { headers: { "Cache-Control": "no-store" } }));
}

export const { GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH } = apiRoute({ GET: health });
