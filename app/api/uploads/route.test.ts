import sharp from "sharp";
import { describe, expect, it } from "vitest";
import type { Run } from "@/lib/runs/index";
import { sha256Hex } from "@/lib/runs/ids";
import { jpegWithHeader, pngWithHeader } from "@/lib/runs/lying-images";
import { GET as getImage } from "../images/[sha256]/route";
import { POST as createRun } from "../runs/route";
import { call, errorOf, postJson, useTestService, waitForStatus } from "../test-support";
import { POST as upload } from "./route";

useTestService({ PENUMBRA_MAX_UPLOAD_BYTES: String(64 * 1024) });

const png = () => sharp({ create: { width: 40, height: 30, channels: 3, background: "#2060d0" } }).png().toBuffer();
const raw = (bytes: Uint8Array, type = "image/png") => call(upload, "/api/uploads", { method: "POST", headers: { "content-type": type }, body: new Uint8Array(bytes) });

describe("POST /api/uploads", () => {
  it("stores raw image bytes by content hash (201), the same bytes again answer 200, and the image is served back", async () => {
    const bytes = await png();
    const first = await raw(bytes);
    expect(first.status).toBe(201);
    const { upload: stored } = (await first.json()) as { upload: { sha256: string; type: string; width: number; height: number; bytes: number } };
    expect(stored).toMatchObject({ type: "image/png", width: 40, height: 30, bytes: bytes.length });
    expect((await raw(bytes)).status).toBe(200);
    const served = await call(getImage, "/", {}, { sha256: stored.sha256 });
    expect(Buffer.from(await served.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it("accepts multipart/form-data with a file field, and an image run uses the upload", async () => {
    const form = new FormData();
    form.set("file", new Blob([await sharp({ create: { width: 64, height: 64, channels: 3, background: "#d02020" } }).jpeg().toBuffer()], { type: "image/jpeg" }), "red.jpg");
    const response = await call(upload, "/api/uploads", { method: "POST", body: form });
    expect(response.status).toBe(201);
    const { upload: stored } = (await response.json()) as { upload: { sha256: string; type: string } };
    expect(stored.type).toBe("image/jpeg");

    const created = await postJson(createRun, "/api/runs", { input: { kind: "image", upload: stored.sha256 }, plan: { kind: "shell", rows: 2 }, cols: 2, steps: 2 });
    expect(created.status).toBe(201);
    const { run } = (await created.json()) as { run: Run };
    expect(run.request.input).toMatchObject({ kind: "image", upload: stored.sha256, width: 64, height: 64, type: "image/jpeg" });
    expect(await waitForStatus(run.id, ["done", "failed"])).toBe("done");
  });

  it("refuses an empty body, a multipart body without a file, bytes that are not an image, and a corrupt image", async () => {
    expect(await errorOf(await raw(new Uint8Array(0)))).toMatchObject({ status: 400, code: "invalid_input" });
    const form = new FormData();
    form.set("note", "no file here");
    expect((await errorOf(await call(upload, "/api/uploads", { method: "POST", body: form }))).message).toMatch(/file/);
    const text = await errorOf(await raw(new TextEncoder().encode("just some text, not a picture"), "image/png"));
    expect(text).toMatchObject({ status: 415, code: "unsupported_media_type" });
    expect(text.message).toMatch(/PNG.*JPEG.*WebP/);
    const truncated = (await png()).subarray(0, 40);
    expect(await errorOf(await raw(truncated))).toMatchObject({ status: 400, code: "invalid_input" });
  });

  it("refuses an upload over the byte limit (413) and a decompression bomb from its header alone (400)", async () => {
    const big = new Uint8Array(64 * 1024 + 1);
    big.set(await png());
    const tooBig = await errorOf(await raw(big));
    expect(tooBig).toMatchObject({ status: 413, code: "payload_too_large" });
    expect(tooBig.message).toMatch(/64 KiB/);
    const bomb = await errorOf(await raw(pngWithHeader(100_000, 100_000)));
    expect(bomb).toMatchObject({ status: 400, code: "invalid_input" });
    expect(bomb.message).toMatch(/100000×100000/);
  });

  it("refuses a JPEG of a few hundred bytes declaring 4000×4000 (400) and stores nothing of it; 5000×5000 is still refused from its header alone", async () => {
    const claimed = await jpegWithHeader(4000, 4000);
    const refused = await errorOf(await raw(claimed, "image/jpeg"));
    expect(refused).toMatchObject({ status: 400, code: "invalid_input", message: expect.stringMatching(/truncated or corrupt: it does not decode cleanly to the 4000×4000 pixels its header declares/) });
    expect(await errorOf(await call(getImage, "/", {}, { sha256: sha256Hex(claimed) }))).toMatchObject({ status: 404, code: "not_found" });
    const tooLarge = await errorOf(await raw(await jpegWithHeader(5000, 5000), "image/jpeg"));
    expect(tooLarge).toMatchObject({ status: 400, message: "the image is 5000×5000; images of at most 4096×4096 pixels are accepted" });
  });
});
