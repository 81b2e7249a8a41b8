import { expect, test, type Page } from "@playwright/test";
import { RUN_PATH, sha256Hex } from "./helpers/api";
import { expectRunDone, fillSettings } from "./helpers/pages";
import { encodePng, pngWithClaimedSize, type Rgb } from "./helpers/png";

const LIGHT: Rgb = [226, 226, 218];
const RED: Rgb = [220, 35, 35];

/** A red circle in the top-left ninth of a light 64×64 canvas, like the shapes the preset was trained on. */
function redCirclePng(): Buffer {
  return encodePng(64, 64, (x, y) => (Math.hypot(x - 17, y - 17) <= 11 ? RED : LIGHT));
}

function uploadResponse(page: Page) {
  return page.waitForResponse((response) => new URL(response.url()).pathname === "/api/uploads" && response.request().method() === "POST");
}

test("an uploaded image is described and decoded into a grid", async ({ page }) => {
  const png = redCirclePng();
  await page.goto("/");
  const uploaded = uploadResponse(page);
  const preview = page.getByTestId("image-preview");
  // A file chosen before React has hydrated the page reaches no change handler (seen once in a loaded run), so it is
  // chosen again until the preview shows; the same bytes twice are one stored upload.
  await expect(async () => {
    await page.getByTestId("image-upload").setInputFiles({ name: "red-circle.png", mimeType: "image/png", buffer: png });
    await expect(preview).toBeVisible({ timeout: 2_000 });
  }).toPass({ timeout: 30_000 });
  expect([200, 201]).toContain((await uploaded).status());
  await fillSettings(page, { "steps-input": 5 });

  await page.getByTestId("submit-run").click();
  await page.waitForURL(RUN_PATH);
  const run = await expectRunDone(page);
  expect(run.request.input).toMatchObject({ kind: "image", upload: sha256Hex(png), width: 64, height: 64, type: "image/png" });
  expect(run.description?.modality).toBe("image");
  expect(run.request).toMatchObject({ steps: 5 });
});

/** `code` where docs/web-api.md names the error; otherwise any client error will do. */
const REFUSED_UPLOADS: { what: string; name: string; bytes: Buffer; code?: string }[] = [
  // The type is judged by the bytes, not the name or the declared type.
  { what: "a text file named .png", name: "notes.png", bytes: Buffer.from("these are notes, not pixels\n"), code: "unsupported_media_type" },
  // Over maxImageSide (4096) on each side: refused from the header, before any pixel is decoded.
  { what: "a PNG whose header claims 5000×5000", name: "huge.png", bytes: pngWithClaimedSize(5000, 5000) },
];

for (const upload of REFUSED_UPLOADS) {
  test(`${upload.what} is refused with the server's message`, async ({ page }) => {
    await page.goto("/");
    const answered = uploadResponse(page);
    // Chosen again until the page answers, as above: a file chosen before hydration reaches no handler.
    await expect(async () => {
      await page.getByTestId("image-upload").setInputFiles({ name: upload.name, mimeType: "image/png", buffer: upload.bytes });
      await expect(page.getByTestId("upload-error")).toBeVisible({ timeout: 2_000 });
    }).toPass({ timeout: 30_000 });
    const response = await answered;
    expect(response.status()).toBeGreaterThanOrEqual(400);
    expect(response.status()).toBeLessThan(500);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    if (upload.code) expect(error.code).toBe(upload.code);
    expect(error.message.length).toBeGreaterThan(0);

    await expect(page.getByTestId("upload-error")).toBeVisible();
    await expect(page.getByTestId("upload-error")).toContainText(error.message);
    await expect(page.getByTestId("image-preview")).toHaveCount(0);
    expect(new URL(page.url()).pathname).toBe("/");
  });
}
