import { getRunService } from "@/lib/runs/index";
import { apiRoute, type Params, respond } from "../../respond";

export const dynamic = "force-dynamic";

function getImage(_request: Request, { params }: Params<"sha256">) {
  return respond(async () => {
    const { bytes, type } = await (await getRunService()).image((await params).sha256);
    // Named by their content hash, so a URL's bytes never change.
    return new Response(new Uint8Array(bytes), { headers: { "Content-Type": type, "Cache-Control": "public, max-age=31536000, immutable" } });
  });
}

export const { GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH } = apiRoute({ GET: getImage });
