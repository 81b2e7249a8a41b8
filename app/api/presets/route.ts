import { getRunService } from "@/lib/runs/index";
import { apiRoute, respond } from "../respond";

export const dynamic = "force-dynamic";

function listPresets() {
  return respond(async () => Response.json({ presets: await (await getRunService()).presets() }));
}

export const { GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH } = apiRoute({ GET: listPresets });
