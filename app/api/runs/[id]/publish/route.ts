import { getRunService } from "@/lib/runs/index";
import { apiRoute, type Params, respond } from "../../../respond";

export const dynamic = "force-dynamic";

/** Publishes a done run; the first publish also answers `unpublishKey`, the only way to unpublish it. */
function publish(_request: Request, { params }: Params<"id">) {
  return respond(async () => {
    const { run, unpublishKey } = await (await getRunService()).publish((await params).id);
    return Response.json(unpublishKey === null ? { run } : { run, unpublishKey });
  });
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

/** Unpublishes a run for the holder of its unpublish key (`Authorization: Bearer <key>`); the run itself stays. */
function unpublish(request: Request, { params }: Params<"id">) {
  return respond(async () => {
    const key = BEARER.exec(request.headers.get("authorization") ?? "")?.[1] ?? null;
    return Response.json({ run: await (await getRunService()).unpublish((await params).id, key) });
  });
}

export const { GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH } = apiRoute({ POST: publish, DELETE: unpublish });
