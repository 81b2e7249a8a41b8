import { getRunService } from "@/lib/runs/index";
import { apiRoute, type Params, respond } from "../../../respond";

export const dynamic = "force-dynamic";

function getGridPng(_request: Request, { params }: Params<"id">) {
  return respond(async () => {
    const { id } = await params;
    const png = await (await getRunService()).gridPng(id);
    return new Response(new Uint8Array(png), {
      headers: {
        "Content-Type": "image/png",
        "Content-Disposition": `attachment; filename="penumbra-${id}.png"`,
        "Cache-Control": "private, max-age=3600",
      },
    });
  });
}

export const { GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH } = apiRoute({ GET: getGridPng });
