import { CLIENT_HEADER } from "@/lib/server/client-address";
import { getRunService } from "@/lib/runs/index";
import { apiRoute, readJson, respond } from "../respond";

export const dynamic = "force-dynamic";

function createComparison(request: Request) {
  return respond(async () => {
    const { comparison, creatorKey } = await (await getRunService()).createComparison(await readJson(request), request.headers.get(CLIENT_HEADER));
    return Response.json({ comparison, creatorKey }, { status: 201, headers: { Location: `/compare/${comparison.id}` } });
  });
}

export const { GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH } = apiRoute({ POST: createComparison });
