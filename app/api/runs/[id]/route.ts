import { getRunService } from "@/lib/runs/index";
import { apiRoute, type Params, respond } from "../../respond";

export const dynamic = "force-dynamic";

function getRun(_request: Request, { params }: Params<"id">) {
  return respond(async () => Response.json({ run: await (await getRunService()).getRun((await params).id) }));
}

export const { GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH } = apiRoute({ GET: getRun });
