import { getRunService } from "@/lib/runs/index";
import { CLIENT_HEADER } from "@/lib/server/client-address";
import { apiRoute, type Params, respond } from "../../../respond";

export const dynamic = "force-dynamic";

function retry(request: Request, { params }: Params<"id">) {
  return respond(async () => Response.json({ run: await (await getRunService()).retry((await params).id, request.headers.get(CLIENT_HEADER)) }));
}

export const { GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH } = apiRoute({ POST: retry });
