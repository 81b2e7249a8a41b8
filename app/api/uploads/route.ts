import { getRunService } from "@/lib/runs/index";
import { CLIENT_HEADER } from "@/lib/server/client-address";
import { apiRoute, readBody, respond } from "../respond";

export const dynamic = "force-dynamic";

/** POST raw image bytes, or multipart/form-data with a `file` field. */
function saveUpload(request: Request) {
  return respond(async () => {
    const service = await getRunService();
    // Multipart framing adds a little to the image itself; the image's own size is checked again below.
    const body = await readBody(request, service.maxUploadBytes + 16 * 1024, "upload");
    const type = request.headers.get("content-type") ?? "";
    let bytes: Uint8Array<ArrayBuffer> = body;
    let declaredType: string | undefined = type.split(";")[0].trim() || undefined;
    if (type.toLowerCase().startsWith("multipart/form-data")) {
      const form = await new Response(body, { headers: { "content-type": type } }).formData().catch(() => null);
      const file = form?.get("file");
      if (!(file instanceof Blob)) return errorForMissingFile();
      bytes = new Uint8Array(await file.arrayBuffer());
      declaredType = file.type || undefined;
    }
    const { upload, created } = await service.saveUpload(bytes, declaredType, request.headers.get(CLIENT_HEADER));
    return Response.json({ upload }, { status: created ? 201 : 200 });
  });
}

function errorForMissingFile(): Response {
  return Response.json(
    { error: { code: "invalid_input", message: "the multipart body has no `file` field; send the image as a file field named `file`, or as the raw body" } },
    { status: 400 },
  );
}

export const { GET, HEAD, OPTIONS, POST, PUT, DELETE, PATCH } = apiRoute({ POST: saveUpload });
