import { getRunService } from "@/lib/runs/index";
import { type Params, respond } from "../../respond";

export const dynamic = "force-dynamic";

export function GET(_request: Request, { params }: Params<"id">) {
  return respond(async () => Response.json({ run: await (await getRunService()).getRun((await params).id) }));
}
