import { expect, test } from "@playwright/test";
import { createRun, getRun, RUN_PATH } from "./helpers/api";
import { expectImagesLoaded, expectRunDone } from "./helpers/pages";

/* The run page's other actions, presentation without a network, and the not-found pages. */

const REQUEST = { input: { kind: "caption" as const, text: "a blue square at the top" }, seed: 31, cols: 2, steps: 10, scheduler: "ddim" as const };

test("copy link puts the permalink on the clipboard; re-run with a new seed makes a new run of the same request", async ({ page, context }) => {
  await context.grantPermissions(["clipboard-read", "clipboard-write"]);
  const created = await createRun(page.request, REQUEST);
  await page.goto(`/runs/${created.id}`);
  await expectRunDone(page);

  await page.getByTestId("copy-link").click();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(page.url());

  await page.getByTestId("rerun-seed").click();
  await page.waitForURL((url) => RUN_PATH.test(url.pathname) && !url.pathname.endsWith(created.id));
  const again = await getRun(page.request, RUN_PATH.exec(new URL(page.url()).pathname)![1]);
  expect(again.request.seed).not.toBe(REQUEST.seed);
  expect(again.request).toMatchObject({ input: REQUEST.input, cols: REQUEST.cols, steps: REQUEST.steps });
});

test("edit and re-run opens the compose form filled in from the run", async ({ page }) => {
  const created = await createRun(page.request, REQUEST);
  await page.goto(`/runs/${created.id}`);
  await expectRunDone(page);
  await page.getByTestId("edit-rerun").click();
  await page.waitForURL(`/?from=${created.id}`);
  await expect(page.getByTestId("caption-input")).toHaveValue(REQUEST.input.text);
  await expect(page.getByTestId("seed-input")).toHaveValue(String(REQUEST.seed));
  await expect(page.getByTestId("cols-input")).toHaveValue(String(REQUEST.cols));
  await expect(page.getByTestId("scheduler-select")).toHaveValue(REQUEST.scheduler);
});

test("a loaded presentation keeps working offline", async ({ page, context }) => {
  const created = await createRun(page.request, { ...REQUEST, seed: 32 });
  await page.goto(`/runs/${created.id}`);
  const run = await expectRunDone(page);
  await page.goto(`/runs/${created.id}/present`);
  await expectImagesLoaded(page);
  await context.setOffline(true);
  const rows = page.getByTestId("present-row");
  for (let row = 1; row < run.rows; row++) {
    await page.keyboard.press("ArrowRight");
    await expect(rows.nth(row)).toHaveAttribute("data-revealed", "true");
  }
  // Every image on the stage was decoded from memory, not fetched now.
  const broken = await page.locator("img").evaluateAll((images) => images.filter((image) => !(image as HTMLImageElement).complete || (image as HTMLImageElement).naturalWidth === 0).length);
  expect(broken).toBe(0);
  await context.setOffline(false);
});

test("unknown runs, comparisons and gallery pages answer 404 with a page that says what was not found", async ({ page }) => {
  for (const [url, title] of [
    ["/runs/000000000000", /run not found/i],
    ["/runs/000000000000/present", /run not found/i],
    ["/compare/000000000000", /comparison not found/i],
    ["/gallery?page=9999", /gallery page not found/i],
  ] as const) {
    const response = await page.goto(url);
    expect(response?.status(), url).toBe(404);
    await expect(page.getByRole("heading", { name: title })).toBeVisible();
    await expect(page.getByRole("link", { name: /compose|home|penumbra/i }).first()).toBeVisible();
  }
});
