import { getRunService } from "@/lib/runs/index";
import { readJson, respond } from "../respond";

export const dynamic = "force-dynamic";

export function POST(request: Request) {
  return respond(async () => {
    const { comparison, created } = await (await getRunService()).createComparison(await readJson(request));
    return Response.json({ comparison }, { status: created ? 201 : 200, headers: { Location: `/compare/${comparison.id}` } });
  });
}
