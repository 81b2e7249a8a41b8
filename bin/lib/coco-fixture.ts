import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";

/*
 * A small COCO-style data set drawn with sharp — coloured shapes with captions naming them, plus
 * optionally an image file that is not an image and one that is listed but absent — for
 * embed-pairs' tests and for measuring its throughput (docs/adapter-training.md).
 */

const COLOURS = [
  ["red", "#d62728"],
  ["green", "#2ca02c"],
  ["blue", "#1f77b4"],
  ["yellow", "#e8c820"],
  ["purple", "#9467bd"],
] as const;
const SHAPES = ["circle", "square", "triangle"] as const;
const FORMATS = ["png", "jpeg", "webp"] as const;

export interface CocoFixtureOptions {
  readonly images: number;
  readonly captionsPerImage?: number;
  /** Image sides; the default varies them (landscape, portrait, square) so resizing and cropping are exercised. */
  readonly size?: { readonly width: number; readonly height: number };
  /** Only JPEG (COCO's format) instead of PNG, JPEG and WebP in turn. */
  readonly jpegOnly?: boolean;
  /** Adds `corrupt.jpg` (bytes that are no image) and `missing.jpg` (listed, never written), each with two captions. */
  readonly brokenImages?: boolean;
  /** Adds an image entry with no caption. */
  readonly uncaptionedImage?: boolean;
}

export interface CocoFixture {
  readonly captionsFile: string;
  readonly imagesDir: string;
  /** Per readable image, in the captions file's order. */
  readonly images: readonly { readonly id: number; readonly fileName: string; readonly captions: readonly string[] }[];
  readonly json: { images: { id: number; file_name: string }[]; annotations: { id: number; image_id: number; caption: string }[] };
}

function shapeSvg(shape: (typeof SHAPES)[number], colour: string, width: number, height: number): string {
  const side = Math.min(width, height) * 0.6;
  const cx = width / 2;
  const cy = height / 2;
  const body =
    shape === "circle"
      ? `<circle cx="${cx}" cy="${cy}" r="${side / 2}" fill="${colour}"/>`
      : shape === "square"
        ? `<rect x="${cx - side / 2}" y="${cy - side / 2}" width="${side}" height="${side}" fill="${colour}"/>`
        : `<polygon points="${cx},${cy - side / 2} ${cx - side / 2},${cy + side / 2} ${cx + side / 2},${cy + side / 2}" fill="${colour}"/>`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}"><rect width="100%" height="100%" fill="#f4f1ea"/>${body}</svg>`;
}

/** Writes `<dir>/captions.json` and `<dir>/images/…`; image ids start at 101 and step by 7, as real ids are not positions. */
export async function writeCocoFixture(dir: string, options: CocoFixtureOptions): Promise<CocoFixture> {
  const imagesDir = path.join(dir, "images");
  await mkdir(imagesDir, { recursive: true });
  const captionsPerImage = options.captionsPerImage ?? 3;
  const json: CocoFixture["json"] = { images: [], annotations: [] };
  const images: { id: number; fileName: string; captions: string[] }[] = [];
  let annotationId = 1;
  const addImage = (id: number, fileName: string, captions: readonly string[]) => {
    json.images.push({ id, file_name: fileName });
    for (const caption of captions) json.annotations.push({ id: annotationId++, image_id: id, caption });
  };

  for (let i = 0; i < options.images; i++) {
    const [colourName, colour] = COLOURS[i % COLOURS.length];
    const shape = SHAPES[Math.floor(i / COLOURS.length) % SHAPES.length];
    const format = options.jpegOnly ? "jpeg" : FORMATS[i % FORMATS.length];
    const size = options.size ?? [{ width: 96, height: 72 }, { width: 60, height: 90 }, { width: 64, height: 64 }][i % 3];
    const fileName = `${String(i).padStart(12, "0")}.${format === "jpeg" ? "jpg" : format}`;
    const pipeline = sharp(Buffer.from(shapeSvg(shape, colour, size.width, size.height)));
    const bytes = await (format === "png" ? pipeline.png() : format === "jpeg" ? pipeline.jpeg({ quality: 90 }) : pipeline.webp({ quality: 90 })).toBuffer();
    await writeFile(path.join(imagesDir, fileName), bytes);
    const templates = [`a ${colourName} ${shape}`, `a ${shape}`, `something ${colourName}`, `a ${colourName} ${shape} in the middle`, `a shape`];
    const captions = Array.from({ length: captionsPerImage }, (_, k) => templates[k % templates.length]);
    const id = 101 + 7 * i;
    addImage(id, fileName, captions);
    images.push({ id, fileName, captions });
    // The broken entries sit among the good ones, so batches mix readable and skipped images.
    if (options.brokenImages && i === 1) {
      await writeFile(path.join(imagesDir, "corrupt.jpg"), Buffer.from("this is not a JPEG at all, only text"));
      addImage(90_001, "corrupt.jpg", ["a corrupt picture", "nothing"]);
    }
    if (options.brokenImages && i === 4) addImage(90_002, "missing.jpg", ["a missing picture", "gone"]);
    if (options.uncaptionedImage && i === 2) addImage(90_003, "uncaptioned.jpg", []);
  }
  const captionsFile = path.join(dir, "captions.json");
  await writeFile(captionsFile, JSON.stringify({ info: { description: "embed-pairs fixture" }, ...json }));
  return { captionsFile, imagesDir, images, json };
}
