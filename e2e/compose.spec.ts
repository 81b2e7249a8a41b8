import path from "node:path";
import { expect, test, type Page } from "@playwright/test";
import { getRun, RUN_PATH, sha256Hex } from "./helpers/api";
import { ARTIFACTS_DIR, runIdOf } from "./helpers/pages";
import { encodePng } from "./helpers/png";

/* The compose form's other ways in: examples, the dice, Ctrl+Enter, and images dropped or pasted anywhere on the page. */

const bluePng = () => encodePng(64, 64, (x, y) => (Math.abs(x - 32) < 10 && Math.abs(y - 32) < 10 ? [40, 70, 220] : [226, 226, 218]));

/** Dispatches `event` ("drop" on the page, or "paste") carrying a PNG file, as a browser does for a real drag or paste. */
async function sendImageEvent(page: Page, event: "drop" | "paste", png: Buffer): Promise<void> {
  await page.evaluate(
    ({ event, bytes }) => {
      const data = new DataTransfer();
      data.items.add(new File([new Uint8Array(bytes)], "blue.png", { type: "image/png" }));
      if (event === "paste") document.body.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true }));
      else {
        for (const type of ["dragenter", "dragover", "drop"]) document.body.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
      }
    },
    { event, bytes: [...png] },
  );
}

test("an example caption is one click from its run", async ({ page }) => {
  await page.goto("/");
  const example = page.getByTestId("example-caption").first();
  const text = (await example.textContent())!.trim();
  await example.click();
  await page.waitForURL(RUN_PATH);
  const run = await getRun(page.request, runIdOf(page));
  expect(run.request.input).toEqual({ kind: "caption", text });
});

test("the dice picks a new seed, and Ctrl+Enter submits the caption with it", async ({ page }) => {
  await page.goto("/");
  const seed = page.getByTestId("seed-input");
  const before = await seed.inputValue();
  await page.getByTestId("seed-dice").click();
  await expect(seed).not.toHaveValue(before);
  const chosen = Number(await seed.inputValue());
  await page.getByTestId("caption-input").fill("a small purple triangle");
  await page.getByTestId("caption-input").press("Control+Enter");
  await page.waitForURL(RUN_PATH);
  const run = await getRun(page.request, runIdOf(page));
  expect(run.request).toMatchObject({ input: { kind: "caption", text: "a small purple triangle" }, seed: chosen });
});

for (const event of ["drop", "paste"] as const) {
  test(`an image ${event === "drop" ? "dropped onto" : "pasted into"} the page is uploaded and previewed`, async ({ page }) => {
    const png = bluePng();
    await page.goto("/");
    const uploaded = page.waitForResponse((response) => new URL(response.url()).pathname === "/api/uploads");
    const preview = page.getByTestId("image-preview");
    // The page listens for drops and pastes once React has hydrated it; an event sent before that
    // goes nowhere, so it is sent again until one lands (the same bytes twice are one stored upload).
    await expect(async () => {
      await sendImageEvent(page, event, png);
      await expect(preview).toBeVisible({ timeout: 2_000 });
    }).toPass({ timeout: 30_000 });
    const body = (await (await uploaded).json()) as { upload: { sha256: string } };
    expect(body.upload.sha256).toBe(sha256Hex(png));
  });
}

test("Advanced warns when PNDM has too few steps to decode cleanly, and stops when the settings are fine", async ({ page }) => {
  await page.goto("/");
  await page.getByText("Advanced").click();
  const advice = page.getByTestId("scheduler-advice");
  await page.getByTestId("scheduler-select").selectOption("pndm");
  await page.getByTestId("steps-input").fill("10");
  await expect(advice).toContainText("at 10");
  await page.getByTestId("scheduler-select").selectOption("ddim");
  await expect(advice).toHaveCount(0);
  await page.getByTestId("scheduler-select").selectOption("pndm");
  await page.getByTestId("steps-input").fill("20");
  await expect(advice).toHaveCount(0);
  // The guidance field says how its scale differs from diffusers' below 1.
  await expect(page.getByTestId("guidance-note")).toContainText("0 unconditionally");
  await expect(page.getByTestId("guidance-note")).toContainText("only above 1");
  await page.screenshot({ path: path.join(ARTIFACTS_DIR, "compose-advanced.png") });
});

test("a caption over the preset's limit is kept whole, counted, and refused with the limit in words", async ({ page }) => {
  await page.goto("/");
  const caption = page.getByTestId("caption-input");
  const long = `a red shape ${"and a blue one ".repeat(22)}`.trim();
  expect([...long].length).toBeGreaterThan(300);
  await caption.fill(long);
  // Nothing is cut: the box holds every character, and the counter says how many there are.
  await expect(caption).toHaveValue(long);
  await expect(page.getByTestId("caption-count")).toHaveText(new RegExp(`^${[...long].length} / 300`));
  await caption.press("Enter");
  await expect(page.getByTestId("form-error")).toContainText("at most 300");
  expect(new URL(page.url()).pathname).toBe("/");
  // Editing clears the stale error, and a caption within the limit counts down again.
  await caption.fill("a red shape");
  await expect(page.getByTestId("form-error")).toHaveCount(0);
  await expect(page.getByTestId("caption-count")).toHaveText("11 / 300");
});
