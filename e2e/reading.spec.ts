import { readFile } from "node:fs/promises";
import { expect, test, type Locator, type Page } from "@playwright/test";
import { createRun, fetchBytes, type Run, type RunRequest } from "./helpers/api";
import { expectImagesLoaded, expectRunDone } from "./helpers/pages";
import { readZip } from "./helpers/zip";

/*
 * Reading and showing a grid: cells at a size one can judge (a remembered cell size, a panel that
 * folds away, full-width comparisons), a lightbox with the cell large, its numbers, its PNG and
 * the mean beside it, one naming of rows and samples, and a presentation driven by tap, click,
 * swipe and buttons that fits a 390 px phone.
 */

const WIDE = { width: 1400, height: 900 };
const PHONE = { width: 390, height: 844 };
/** The grid: 9 rows of 8 samples, few steps so it decodes quickly. */
const BIG_RUN: RunRequest = { input: { kind: "caption", text: "a shape" }, plan: { kind: "geodesic", rows: 9 }, cols: 8, seed: 7, steps: 4, scheduler: "ddim" };
const SMALL_RUN: RunRequest = { input: { kind: "caption", text: "a green square at the top" }, seed: 12, cols: 4, steps: 5, scheduler: "ddim" };

async function openDoneRun(page: Page, request: RunRequest): Promise<Run> {
  const created = await createRun(page.request, request);
  await page.goto(`/runs/${created.id}`);
  return expectRunDone(page);
}

async function widthOf(locator: Locator): Promise<number> {
  const box = await locator.boundingBox();
  if (!box) throw new Error("not laid out");
  return box.width;
}

type Box = { x: number; y: number; width: number; height: number };
const overlaps = (a: Box, b: Box) => a.x < b.x + b.width - 0.5 && b.x < a.x + a.width - 0.5 && a.y < b.y + b.height - 0.5 && b.y < a.y + a.height - 0.5;

async function boxes(locator: Locator): Promise<Box[]> {
  return locator.evaluateAll((nodes) =>
    nodes.map((node) => {
      // A label's text may be narrower than its box; measure what is drawn.
      const range = document.createRange();
      range.selectNodeContents(node);
      const { x, y, width, height } = range.getBoundingClientRect();
      return { x, y, width, height };
    }),
  );
}

test("at 1400 px a 9 × 8 grid's cells grow past 140 px with the panel folded and large cells, and the choice survives a reload", async ({ page }) => {
  await page.setViewportSize(WIDE);
  await openDoneRun(page, BIG_RUN);
  const cell = page.getByTestId("grid-cell").first();
  const regular = await widthOf(cell);

  await page.getByTestId("panel-toggle").click();
  await expect(page.getByTestId("uncertainty-aside")).toBeHidden();
  await expect(page.getByTestId("panel-summary")).toBeVisible();
  await page.getByTestId("cell-size-large").click();
  await expect(page.getByTestId("cell-size-large")).toHaveAttribute("aria-checked", "true");
  const large = await widthOf(cell);
  expect(large, `large cells with the panel folded (regular: ${regular.toFixed(0)} px)`).toBeGreaterThanOrEqual(140);
  expect(large).toBeGreaterThan(regular * 1.4);

  await page.reload();
  await expect(page.getByTestId("uncertainty-aside")).toBeHidden();
  await expect(page.getByTestId("cell-size-large")).toHaveAttribute("aria-checked", "true");
  expect(await widthOf(page.getByTestId("grid-cell").first())).toBeCloseTo(large, 0);

  await page.getByTestId("cell-size-small").click();
  expect(await widthOf(cell)).toBeLessThan(regular);
  await page.getByTestId("panel-toggle").click();
  await expect(page.getByTestId("uncertainty-aside")).toBeVisible();
  await page.getByTestId("cell-size-medium").click();
});

test("a comparison of two inputs uses the page's width: at 1400 px cells of 8 samples beat the old 40 px, and large cells reach 100 px", async ({ page }) => {
  await page.setViewportSize(WIDE);
  const request = { inputs: [BIG_RUN.input, { kind: "caption", text: "a red circle" }], plan: { kind: "geodesic", rows: 3 }, cols: 8, seed: 7, steps: 4, scheduler: "ddim" };
  const response = await page.request.post("/api/compare", { data: request });
  expect(response.ok(), await response.text()).toBe(true);
  const { comparison } = (await response.json()) as { comparison: { id: string } };
  await page.goto(`/compare/${comparison.id}`);
  const cell = page.getByTestId("compare-grid").first().getByTestId("grid-cell").first();
  expect(await widthOf(cell)).toBeGreaterThanOrEqual(56);
  // Large cells keep their size and let each grid scroll sideways inside its own column.
  await page.getByTestId("cell-size-large").click();
  expect(await widthOf(cell)).toBeGreaterThanOrEqual(100);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  await page.getByTestId("cell-size-medium").click();
});

test("the lightbox shows the cell large with its numbers, downloads its PNG, and puts the same sample's mean cell beside it", async ({ page }) => {
  await page.setViewportSize(WIDE);
  const run = await openDoneRun(page, SMALL_RUN);
  const target = run.cells.find((cell) => cell.row === 2 && cell.col === 1)!;
  const mean = run.cells.find((cell) => cell.row === 0 && cell.col === 1)!;
  await page.locator('[data-testid="grid-cell"][data-row="2"][data-col="1"]').click();
  const lightbox = page.getByTestId("lightbox");
  await expect(lightbox).toBeVisible();
  await expect(lightbox.getByTestId("lightbox-title")).toHaveText(/^row 2 · θ = [\d.]+° · q_dec ≈ [\d.]+ · sample 2$/);
  expect(await widthOf(lightbox.getByTestId("lightbox-image"))).toBeGreaterThanOrEqual(480);
  await expect(lightbox.getByTestId("cell-metrics-decoder")).toContainText("θ");

  const downloading = page.waitForEvent("download");
  await lightbox.getByTestId("lightbox-download").click();
  const download = await downloading;
  expect(download.suggestedFilename()).toBe(`penumbra-${run.id}-row2-sample2.png`);
  const saved = await download.path();
  expect((await readFile(saved)).equals(await fetchBytes(page.request, `/api/images/${target.image}`))).toBe(true);

  const toggle = lightbox.getByTestId("lightbox-compare-mean");
  await toggle.click();
  await expect(toggle).toHaveAttribute("aria-pressed", "true");
  await expect(lightbox.getByTestId("lightbox-mean").locator("img")).toHaveAttribute("src", `/api/images/${mean.image}`);
  // It stays on while moving along the row: the mean beside it follows the sample.
  await page.keyboard.press("ArrowRight");
  const next = run.cells.find((cell) => cell.row === 0 && cell.col === 2)!;
  await expect(lightbox.getByTestId("lightbox-mean").locator("img")).toHaveAttribute("src", `/api/images/${next.image}`);
  await expect(lightbox.getByTestId("lightbox-title")).toHaveText(/sample 3$/);
  await page.keyboard.press("Escape");
  await expect(lightbox).toBeHidden();
});

test("rows and samples have one name on the page, in the zip and in the grid PNG's labels", async ({ page }) => {
  const run = await openDoneRun(page, SMALL_RUN);
  await expect(page.getByTestId("col-label")).toHaveText(["sample 1", "sample 2", "sample 3", "sample 4"]);
  await expect(page.locator('[data-testid="grid-cell"][data-row="1"][data-col="3"]')).toHaveAttribute("aria-label", /^row 1 · θ = [\d.]+° · q_dec ≈ [\d.]+ · sample 4\. Open enlarged\.$/);
  const names = readZip(await fetchBytes(page.request, `/api/runs/${run.id}/cells.zip`)).map((entry) => entry.name);
  expect(names).toContain("row1-sample4.png");
});

test.describe("present mode", () => {
  test("steps through rows by click, tap zones, swipe and buttons, not only keys", async ({ page }) => {
    const run = await openDoneRun(page, SMALL_RUN);
    await page.goto(`/runs/${run.id}/present`);
    const rows = page.getByTestId("present-row");
    const revealed = () => rows.evaluateAll((nodes) => nodes.filter((node) => node.getAttribute("data-revealed") === "true").length);
    const area = page.getByTestId("present-area");
    await expect(rows).toHaveCount(run.rows);
    await expect.poll(revealed).toBe(1);
    await expect(page.getByTestId("present-stage")).toBeFocused();

    const box = (await area.boundingBox())!;
    await area.click({ position: { x: box.width * 0.8, y: box.height / 2 } });
    await expect.poll(revealed).toBe(2);
    await area.click({ position: { x: box.width * 0.1, y: box.height / 2 } });
    await expect.poll(revealed).toBe(1);

    await page.getByTestId("present-next").click();
    await page.getByTestId("present-next").click();
    await expect.poll(revealed).toBe(3);
    await page.getByTestId("present-back").click();
    await expect.poll(revealed).toBe(2);

    // A swipe to the left is "next", to the right "back", wherever it starts.
    const swipe = async (from: number, to: number) => {
      await page.mouse.move(box.x + box.width * from, box.y + box.height / 2);
      await page.mouse.down();
      await page.mouse.move(box.x + box.width * to, box.y + box.height / 2, { steps: 6 });
      await page.mouse.up();
    };
    await swipe(0.7, 0.3);
    await expect.poll(revealed).toBe(3);
    await swipe(0.2, 0.6);
    await expect.poll(revealed).toBe(2);
  });

  test("responds to a touch tap on a phone", async ({ browser }) => {
    const context = await browser.newContext({ viewport: PHONE, hasTouch: true, isMobile: true });
    const page = await context.newPage();
    const run = await openDoneRun(page, SMALL_RUN);
    await page.goto(`/runs/${run.id}/present`);
    // The stage takes focus once its handlers are attached; a tap before that does nothing (seen under load).
    await expect(page.getByTestId("present-stage")).toBeFocused();
    const area = page.getByTestId("present-area");
    const box = (await area.boundingBox())!;
    await page.touchscreen.tap(box.x + box.width * 0.8, box.y + box.height / 2);
    await expect(page.getByTestId("present-row").nth(1)).toHaveAttribute("data-revealed", "true");
    await context.close();
  });

  test("fits a 390 px phone: cells of at least 64 px, no label over another or over a cell, no sideways scrolling", async ({ page }) => {
    await page.setViewportSize(PHONE);
    const run = await openDoneRun(page, SMALL_RUN);
    await page.goto(`/runs/${run.id}/present`);
    await expect(page.getByTestId("present-stage")).toBeFocused();
    await page.getByTestId("present-stage").press("End");
    const cells = page.getByTestId("present-row").locator("img");
    await expect(cells).toHaveCount(run.rows * run.cols);
    // Measured once every image has loaded: an image still loading has no size yet (one CI run read 0 px).
    await expectImagesLoaded(page);
    const cellBoxes = await cells.evaluateAll((nodes) => nodes.map((node) => node.getBoundingClientRect().toJSON() as { x: number; y: number; width: number; height: number }));
    for (const cell of cellBoxes) {
      expect(cell.width).toBeGreaterThanOrEqual(64);
      expect(cell.x).toBeGreaterThanOrEqual(0);
      expect(cell.x + cell.width).toBeLessThanOrEqual(PHONE.width);
      expect(cell.y + cell.height).toBeLessThanOrEqual(PHONE.height);
    }
    const labels = [...(await boxes(page.getByTestId("col-label"))), ...(await boxes(page.getByTestId("row-label")))];
    for (let i = 0; i < labels.length; i++) {
      for (let j = i + 1; j < labels.length; j++) expect(overlaps(labels[i], labels[j]), `labels ${i} and ${j} overlap`).toBe(false);
      for (const cell of cellBoxes) expect(overlaps(labels[i], cell), `label ${i} covers a cell`).toBe(false);
    }
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
  });
});
