import { readFileSync } from "node:fs";
import path from "node:path";
import sharp, { type Sharp } from "sharp";
import { describe, expect, it } from "vitest";
import { encodeImages, encodeTexts, loadTokenizer, preprocessImage, promptHiddenStates } from "./encoders";
import { EngineError } from "./errors";
import { contractDims, type ModelKey } from "./contract";
import { openModel } from "./onnx";
import { loadPreset, resolvePresetDir } from "./preset";

const SHAPES_DIR = resolvePresetDir("shapes");
const preset = loadPreset(SHAPES_DIR);
const { config } = preset;
const clip = config.image.clip;
const parity = JSON.parse(readFileSync(path.join(SHAPES_DIR, "torch-outputs.json"), "utf8"));

async function open(key: ModelKey) {
  return openModel(key, await preset.filePath(key), contractDims(config), { providers: ["cpu"], threads: 2 });
}

/** A width×height image, left half `left` and right half `right`. */
function halves(width: number, height: number, left: number[], right: number[]): Sharp {
  const raw = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) raw.set(x < width / 2 ? left : right, (y * width + x) * 3);
  }
  return sharp(raw, { raw: { width, height, channels: 3 } });
}

async function expectInvalidInput(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(EngineError);
  expect((error as EngineError).code).toBe("invalid_input");
  expect((error as EngineError).message).toMatch(pattern);
}

describe("tokenizer", () => {
  it("reproduces the training tokenizer's ids for every reference case", () => {
    const reference = JSON.parse(readFileSync(path.join(SHAPES_DIR, "tokenizer", "reference-ids.json"), "utf8"));
    const tokenizer = loadTokenizer(preset, config.tokenizer);
    expect([tokenizer.bos, tokenizer.eos, tokenizer.pad, tokenizer.contextLength]).toEqual([reference.bos, reference.eos, reference.pad, reference.contextLength]);
    expect(reference.cases.length).toBeGreaterThan(40);
    for (const { text, ids } of reference.cases as { text: string; ids: number[] }[]) {
      expect([...tokenizer.encodeForModel(text)], JSON.stringify(text)).toEqual(ids);
    }
  });
});

describe("text", () => {
  it("embeds a caption as PyTorch did (tokenizer and tower together)", async () => {
    const tokenizer = loadTokenizer(preset, config.tokenizer);
    const [embedding, other] = await encodeTexts(await open("clipText"), tokenizer, ["a large red circle at the top left", "a shape"]);
    expect(embedding).toHaveLength(64);
    parity.clipText.text_embeds.forEach((expected: number, j: number) => expect(embedding[j]).toBeCloseTo(expected, 3));
    expect(other).not.toEqual(embedding);
  });

  it("gives the prompt encoder's hidden states for a prompt", async () => {
    const tokenizer = loadTokenizer(preset, config.promptTokenizer ?? config.tokenizer);
    const hidden = await promptHiddenStates(await open("promptEncoder"), tokenizer, "a large red circle at the top left");
    expect(hidden.dims).toEqual([1, 77, 64]);
    parity.promptEncoder.last_hidden_state_first_row.forEach((expected: number, j: number) => expect(hidden.data[j]).toBeCloseTo(expected, 3));
  });
});

describe("image preprocessing", () => {
  it("maps a square image of the CLIP size to (x/255 − mean)/std, channel-major", async () => {
    const png = await halves(64, 64, [255, 0, 0], [0, 0, 255]).png().toBuffer();
    const { pixels, info } = await preprocessImage(png, clip, 64);
    expect(info).toEqual({ format: "png", width: 64, height: 64 });
    const plane = 64 * 64;
    // Red on the left, blue on the right; mean = std = 0.5 maps 255 → 1 and 0 → −1.
    expect([pixels[0], pixels[plane], pixels[2 * plane]]).toEqual([1, -1, -1]);
    expect([pixels[63], pixels[plane + 63], pixels[2 * plane + 63]]).toEqual([-1, -1, 1]);
  });

  it("resizes the shortest side to the CLIP size and crops the centre", async () => {
    // 32×16: the short side 16 becomes 64, the image 128×64, and the crop keeps columns 32–95.
    const left = [200, 0, 0];
    const right = [0, 200, 0];
    const png = await halves(32, 16, left, right).png().toBuffer();
    const { pixels } = await preprocessImage(png, clip, 64);
    const at = (x: number, y: number) => [0, 1, 2].map((c) => Math.round(((pixels[c * 4096 + y * 64 + x] * 0.5 + 0.5) * 255)));
    expect(at(0, 0)).toEqual(left);
    expect(at(63, 63)).toEqual(right);
    // The seam sits in the middle of the crop.
    expect(at(20, 32)).toEqual(left);
    expect(at(44, 32)).toEqual(right);
  });

  it.each(["jpeg", "webp"] as const)("accepts %s", async (format) => {
    const bytes = await halves(64, 48, [0, 0, 0], [255, 255, 255]).toFormat(format).toBuffer();
    const { info, pixels } = await preprocessImage(bytes, clip, 64);
    expect(info).toEqual({ format, width: 64, height: 48 });
    expect(pixels).toHaveLength(3 * 64 * 64);
  });

  it("drops alpha and expands greyscale to RGB", async () => {
    const translucent = await sharp({ create: { width: 8, height: 8, channels: 4, background: { r: 128, g: 64, b: 32, alpha: 0.2 } } }).png().toBuffer();
    const { pixels } = await preprocessImage(translucent, clip, 64);
    // Colours are kept as stored, not blended with the alpha (PIL's convert("RGB")).
    expect([pixels[0], pixels[4096], pixels[8191], pixels[2 * 4096 + 4095]].map((v) => Math.round((v * 0.5 + 0.5) * 255))).toEqual([128, 64, 64, 32]);
    const grey = await sharp({ create: { width: 8, height: 8, channels: 3, background: "#808080" } }).toColourspace("b-w").png().toBuffer();
    expect((await sharp(grey).metadata()).channels).toBe(1);
    const { pixels: greyPixels } = await preprocessImage(grey, clip, 64);
    expect(new Set(greyPixels)).toEqual(new Set([Math.fround(128 / 255 / 0.5 - 1)]));
  });

  it("refuses bytes that are not an image", async () => {
    await expectInvalidInput(preprocessImage(Buffer.from("definitely not a picture"), clip, 64), /not a readable image/);
    await expectInvalidInput(preprocessImage(Buffer.alloc(0), clip, 64), /empty/);
  });

  it("refuses a truncated PNG", async () => {
    const noise = Buffer.from(Array.from({ length: 64 * 64 * 3 }, (_, i) => (i * 7919) % 251));
    const png = await sharp(noise, { raw: { width: 64, height: 64, channels: 3 } }).png({ compressionLevel: 0 }).toBuffer();
    await expectInvalidInput(preprocessImage(png.subarray(0, png.length / 2), clip, 64), /truncated or corrupt/);
  });

  it("refuses a JPEG whose header claims more pixels than its data holds, as the web's uploads do", async () => {
    const jpeg = Buffer.from(await sharp({ create: { width: 8, height: 8, channels: 3, background: "#c03030" } }).jpeg().toBuffer());
    const sof0 = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
    // SOF0: marker, length, precision, then height and width.
    jpeg.writeUInt16BE(60, sof0 + 5);
    jpeg.writeUInt16BE(60, sof0 + 7);
    await expectInvalidInput(preprocessImage(jpeg, clip, 64), /truncated or corrupt/);
  });

  it("refuses formats other than PNG, JPEG and WebP", async () => {
    const gif = await halves(8, 8, [1, 2, 3], [4, 5, 6]).gif().toBuffer();
    await expectInvalidInput(preprocessImage(gif, clip, 64), /unsupported image format gif/);
  });

  it("refuses an image larger than the limit from its header alone", async () => {
    const big = await sharp({ create: { width: 4000, height: 30, channels: 3, background: "#000" } }).png().toBuffer();
    await expectInvalidInput(preprocessImage(big, clip, 64), /4000×30.*up to 64 pixels/);
    // A header that claims 100000×100000 with almost no data behind it: refused without decoding.
    const header = Buffer.from(big);
    header.writeUInt32BE(100_000, 16);
    header.writeUInt32BE(100_000, 20);
    await expectInvalidInput(preprocessImage(header, clip, 64), /100000×100000|not a readable image/);
  });

  it("embeds preprocessed images as PyTorch did", async () => {
    const [embedding] = await encodeImages(await open("clipImage"), [Float32Array.from(parity.clipImage.pixel_values)], clip.size);
    parity.clipImage.image_embeds.forEach((expected: number, j: number) => expect(embedding[j]).toBeCloseTo(expected, 3));
  });
});
