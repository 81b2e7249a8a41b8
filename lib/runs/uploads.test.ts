import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { jpegWithHeader, pngWithHeader } from "./lying-images";
import { inspectUpload, sniffImageType } from "./uploads";

const LIMITS = { maxBytes: 64 * 1024, maxSide: 256 };

const solid = (format: "png" | "jpeg" | "webp", width = 8, height = 6) =>
  sharp({ create: { width, height, channels: 3, background: "#c03030" } })[format]().toBuffer();

describe("inspectUpload", () => {
  it("accepts PNG, JPEG and WebP by their bytes and reports type and size", async () => {
    expect(await inspectUpload(await solid("png"), LIMITS)).toEqual({ type: "image/png", width: 8, height: 6 });
    expect(await inspectUpload(await solid("jpeg"), LIMITS, "application/octet-stream")).toEqual({ type: "image/jpeg", width: 8, height: 6 });
    expect(await inspectUpload(await solid("webp"), LIMITS)).toEqual({ type: "image/webp", width: 8, height: 6 });
  });

  it("refuses an empty upload", async () => {
    await expect(inspectUpload(new Uint8Array(), LIMITS)).rejects.toMatchObject({ code: "invalid_input", status: 400, message: expect.stringMatching(/empty/) });
  });

  it("refuses an upload over the byte limit with 413", async () => {
    await expect(inspectUpload(new Uint8Array(LIMITS.maxBytes + 1), LIMITS)).rejects.toMatchObject({
      code: "payload_too_large",
      status: 413,
      message: expect.stringMatching(/at most 64 KiB/),
    });
  });

  it("refuses other formats by their bytes with 415, listing what is accepted", async () => {
    const gif = Buffer.from("GIF89a\x01\x00\x01\x00\x00\x00\x00;", "latin1");
    await expect(inspectUpload(gif, LIMITS, "image/png")).rejects.toMatchObject({
      code: "unsupported_media_type",
      status: 415,
      message: expect.stringMatching(/declared as image\/png.*image\/png, image\/jpeg, image\/webp/),
    });
    expect(sniffImageType(gif)).toBeNull();
  });

  it("refuses a header declaring 100000×100000 before decoding a pixel", async () => {
    const bomb = pngWithHeader(100_000, 100_000);
    expect(bomb.length).toBeLessThan(100);
    await expect(inspectUpload(bomb, LIMITS)).rejects.toMatchObject({ code: "invalid_input", status: 400, message: expect.stringMatching(/100000×100000.*at most 256×256/) });
    await expect(inspectUpload(pngWithHeader(300, 10), LIMITS)).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/300×10/) });
  });

  it("refuses a tiny JPEG whose header declares 4000×4000, within the side limit, because its pixels are not there", async () => {
    const limits = { maxBytes: 64 * 1024, maxSide: 4096 };
    const claimed = await jpegWithHeader(4000, 4000);
    expect(claimed.length).toBeLessThan(400);
    expect(await sharp(claimed).metadata()).toMatchObject({ width: 4000, height: 4000 });
    await expect(inspectUpload(claimed, limits)).rejects.toMatchObject({
      code: "invalid_input",
      status: 400,
      message: "the image/jpeg upload is truncated or corrupt: it does not decode cleanly to the 4000×4000 pixels its header declares; send a complete PNG, JPEG or WebP image",
    });
    // The same file with its true size, and real images of every kind at that size, still pass.
    expect(await inspectUpload(await jpegWithHeader(8, 8), limits)).toEqual({ type: "image/jpeg", width: 8, height: 8 });
    const noise = Buffer.from(Array.from({ length: 640 * 480 * 3 }, (_, i) => (i * 7919) % 251));
    const photo = sharp(noise, { raw: { width: 640, height: 480, channels: 3 } });
    for (const [type, bytes] of [
      ["image/jpeg", await photo.clone().jpeg().toBuffer()],
      ["image/jpeg", await photo.clone().jpeg({ progressive: true }).toBuffer()],
      ["image/png", await photo.clone().png().toBuffer()],
      ["image/webp", await photo.clone().webp().toBuffer()],
    ] as const) {
      expect(await inspectUpload(bytes, { maxBytes: 4 * 1024 * 1024, maxSide: 4096 })).toEqual({ type, width: 640, height: 480 });
    }
  });

  it("refuses corrupt and truncated images with 400", async () => {
    const png = await solid("png", 64, 64);
    const garbage = Buffer.concat([png.subarray(0, 8), Buffer.from("not chunks at all, just noise")]);
    await expect(inspectUpload(garbage, LIMITS)).rejects.toMatchObject({ code: "invalid_input", status: 400, message: expect.stringMatching(/corrupt/) });
    // Noise, so the JPEG's entropy-coded data is long enough to cut in half past its header.
    const noise = Buffer.from(Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 7919) % 251));
    const jpeg = await sharp(noise, { raw: { width: 64, height: 64, channels: 3 } }).jpeg().toBuffer();
    await expect(inspectUpload(jpeg.subarray(0, jpeg.length / 2), LIMITS)).rejects.toMatchObject({ status: 400, message: expect.stringMatching(/truncated or corrupt/) });
  });
});
