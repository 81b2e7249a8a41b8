import { getRunService } from "@/lib/runs/index";
import { apiRoute, type Params, respond } from "../../../respond";

export const dynamic = "force-dynamic";

const BEARER = /^Bearer\s+(\S+)\s*$/i;
/** The creator key the request carries as `Authorization: Bearer <key>`, or null. */
const creatorKeyOf = (request: Request) => BEARER.exec(request.headers.get("authorization") ?? "")?.[1] ?? null;

/** Puts a done run's link in the gallery, for the holder of the creator key its creation answered. */
function publish(request: Request, { params }: Params<"id">) {
  return respond(async () => Response.json({ run: await (await getRunService()).publish((await params).id, creatorKeyOf(request)) }));
}

/** Takes the link out of the gallery again, for the same key; the link keeps opening the run. */
function unpublish(request: Request, { params }: Params<"id">) {
  return respond(async () => Response.json({ run: await (await getRunService()).unpublish((await params).id, creatorKeyOf(request)) }));
}

export const { GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH } = apiRoute({ POST: publish, DELETE: unpublish });
