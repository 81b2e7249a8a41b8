import { CLIENT_HEADER } from "@/lib/server/client-address";
import { getRunService } from "@/lib/runs/index";
import { apiRoute, readJson, respond } from "../respond";

export const dynamic = "force-dynamic";

function createRun(request: Request) {
  return respond(async () => {
    const { run, creatorKey } = await (await getRunService()).createRun(await readJson(request), request.headers.get(CLIENT_HEADER));
    // Every request makes a new link, even to a run decoded before.
    return Response.json({ run, creatorKey }, { status: 201, headers: { Location: `/runs/${run.id}` } });
  });
}

export const { GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH } = apiRoute({ POST: createRun });
