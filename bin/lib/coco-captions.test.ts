import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { UsageError } from "./args";
import { readCaptionsFile } from "./coco-captions";

const dir = mkdtempSync(path.join(tmpdir(), "penumbra-captions-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let counter = 0;
function captionsFile(content: unknown): string {
  const file = path.join(dir, `captions-${counter++}.json`);
  writeFileSync(file, typeof content === "string" ? content : JSON.stringify(content));
  return file;
}

const VALID = {
  info: { year: 2017 },
  licenses: [],
  images: [
    { id: 9, file_name: "000000000009.jpg", width: 640, height: 480 },
    { id: 25, file_name: "000000000025.jpg" },
    { id: 30, file_name: "000000000030.jpg" },
  ],
  annotations: [
    { id: 1, image_id: 25, caption: "A giraffe eating leaves." },
    { id: 2, image_id: 9, caption: "Food in a lunch box." },
    { id: 3, image_id: 25, caption: "A tall giraffe." },
  ],
};

async function rejection(content: unknown): Promise<UsageError> {
  const error = await readCaptionsFile(captionsFile(content)).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(UsageError);
  return error as UsageError;
}

describe("readCaptionsFile", () => {
  it("groups captions by image in the file's order, keeps their annotation positions and ignores COCO's other keys", async () => {
    const set = await readCaptionsFile(captionsFile(VALID));
    expect(set.images).toEqual([
      { id: 9, fileName: "000000000009.jpg", captions: [{ index: 1, text: "Food in a lunch box." }] },
      {
        id: 25,
        fileName: "000000000025.jpg",
        captions: [
          { index: 0, text: "A giraffe eating leaves." },
          { index: 2, text: "A tall giraffe." },
        ],
      },
    ]);
    expect(set.captions).toBe(3);
    expect(set.imagesWithoutCaptions).toBe(1);
    expect(set.sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it("names the key that is wrong and what a COCO-style file holds", async () => {
    const noImages = await rejection({ annotations: VALID.annotations });
    expect(noImages.message).toMatch(/is not a COCO-style captions file: images: .*expected array/i);
    expect(noImages.message).toContain('Expected {"images": [{"id": <integer>, "file_name"');

    const badName = await rejection({ ...VALID, images: [{ id: 9, file_name: 42 }] });
    expect(badName.message).toMatch(/images\.0\.file_name: .*expected string/i);

    const noCaption = await rejection({ ...VALID, annotations: [{ image_id: 9, text: "wrong key" }] });
    expect(noCaption.message).toMatch(/annotations\.0\.caption: /);

    const emptyCaption = await rejection({ ...VALID, annotations: [{ image_id: 9, caption: "  " }] });
    expect(emptyCaption.message).toContain("annotations.0.caption: must be a non-empty caption");

    const climbing = await rejection({ ...VALID, images: [{ id: 9, file_name: "../etc/passwd" }] });
    expect(climbing.message).toContain("images.0.file_name: must be a path inside the images folder");
  });

  it("shows the first five issues and counts the rest", async () => {
    const images = Array.from({ length: 8 }, (_, i) => ({ id: `x${i}`, file_name: `${i}.jpg` }));
    const error = await rejection({ images, annotations: [] });
    expect(error.message.match(/images\.\d\.id/g)).toHaveLength(5);
    expect(error.message).toContain("and 3 more issues");
  });

  it("refuses captions of unlisted images, repeated image ids, files with no captioned image, non-JSON and missing files", async () => {
    expect((await rejection({ ...VALID, annotations: [{ image_id: 77, caption: "lost" }] })).message).toContain(
      'annotations.0.image_id 77 names no entry of "images"',
    );
    expect((await rejection({ ...VALID, images: [VALID.images[0], VALID.images[0]] })).message).toContain("images.1.id 9 is listed twice");
    expect((await rejection({ images: VALID.images, annotations: [] })).message).toContain("has no image with a caption");
    expect((await rejection("{ not json")).message).toMatch(/is not valid JSON .*expected a COCO-style captions file/);
    await expect(readCaptionsFile(path.join(dir, "absent.json"))).rejects.toThrow(/--captions: cannot read .*absent\.json/);
  });
});
