import { deflateSync } from "node:zlib";
import sharp from "sharp";
import { crc32 } from "../engine/index";

/*
 * Images whose header claims more pixels than they carry, as hostile uploads do: for the upload
 * tests and npm run attack (scripts/attack.ts), which must not load the test runner.
 */

function chunk(type: string, data: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const out = Buffer.alloc(4 + body.length + 4);
  out.writeUInt32BE(data.length, 0);
  body.copy(out, 4);
  out.writeUInt32BE(crc32(body), 4 + body.length);
  return out;
}

/** A well-formed PNG whose header declares `width`×`height` (8-bit RGB) but carries one scanline of data. */
export function pngWithHeader(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.alloc(1 + 3))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/**
 * A tiny valid JPEG (8×8, baseline) whose SOF0 header is patched to declare `width`×`height`: its
 * scan data ends at the end-of-image marker long before that many pixels (as in issue 14's 293-byte 4000×4000 upload).
 */
export async function jpegWithHeader(width: number, height: number): Promise<Buffer> {
  const jpeg = Buffer.from(await sharp({ create: { width: 8, height: 8, channels: 3, background: "#c03030" } }).jpeg().toBuffer());
  const sof0 = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
  if (sof0 < 0) throw new Error("sharp wrote a JPEG without a baseline SOF0 marker");
  // Marker (2 bytes), segment length (2), sample precision (1), then height and width, big-endian.
  jpeg.writeUInt16BE(height, sof0 + 5);
  jpeg.writeUInt16BE(width, sof0 + 7);
  return jpeg;
}
