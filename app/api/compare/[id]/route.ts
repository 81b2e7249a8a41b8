import { getRunService } from "@/lib/runs/index";
import { apiRoute, type Params, respond } from "../../respond";

export const dynamic = "force-dynamic";

function getComparison(_request: Request, { params }: Params<"id">) {
  return respond(async () => Response.json({ comparison: await (await getRunService()).getComparison((await params).id) }));
}

export const { GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH } = apiRoute({ GET: getComparison });
