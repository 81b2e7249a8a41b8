import { getRunService } from "@/lib/runs/index";
import { apiRoute, respond } from "../respond";

export const dynamic = "force-dynamic";

function listGallery(request: Request) {
  return respond(async () => {
    const url = new URL(request.url);
    return Response.json(await (await getRunService()).gallery({ q: url.searchParams.get("q") ?? "", page: url.searchParams.get("page") ?? "1" }));
  });
}

export const { GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH } = apiRoute({ GET: listGallery });
