import { getRunService } from "@/lib/runs/index";
import { respond } from "../respond";

export const dynamic = "force-dynamic";

export function GET(request: Request) {
  return respond(async () => {
    const url = new URL(request.url);
    return Response.json(await (await getRunService()).gallery({ q: url.searchParams.get("q") ?? "", page: url.searchParams.get("page") ?? "1" }));
  });
}
