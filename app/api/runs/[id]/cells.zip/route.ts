import { getRunService } from "@/lib/runs/index";
import { apiRoute, type Params, respond } from "../../../respond";

export const dynamic = "force-dynamic";

function getCellsZip(_request: Request, { params }: Params<"id">) {
  return respond(async () => {
    const { id } = await params;
    const zip = await (await getRunService()).cellsZip(id);
    return new Response(new Uint8Array(zip), {
      headers: {
        "Content-Type": "application/zip",
        "Content-Disposition": `attachment; filename="penumbra-${id}.zip"`,
        "Cache-Control": "private, max-age=3600",
      },
    });
  });
}

export const { GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH } = apiRoute({ GET: getCellsZip });
