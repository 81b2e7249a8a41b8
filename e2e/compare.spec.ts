import path from "node:path";
import { expect, test } from "@playwright/test";
import { COMPARE_PATH, getComparison } from "./helpers/api";
import { ARTIFACTS_DIR, expectGridComplete, expectImagesLoaded, fillSettings } from "./helpers/pages";

const VAGUE = "a shape";
const SPECIFIC = "a large red circle at the top left";

test("comparing a vague and a specific caption shows two finished grids, the vague one more uncertain", async ({ page }) => {
  await page.goto("/compare");
  const inputs = page.getByTestId("compare-input");
  await expect(inputs).toHaveCount(2);
  await inputs.nth(0).fill(VAGUE);
  await inputs.nth(1).fill(SPECIFIC);
  // The uncertainty comes from the caption alone; a small, quick grid is enough to see both finish.
  await fillSettings(page, { "cols-input": 2, "steps-input": 5 });
  await page.getByTestId("compare-submit").click();
  await page.waitForURL(COMPARE_PATH);

  const id = COMPARE_PATH.exec(new URL(page.url()).pathname)![1];
  const comparison = await getComparison(page.request, id);
  expect(comparison.runs.map((run) => run.request.input)).toEqual([
    { kind: "caption", text: VAGUE },
    { kind: "caption", text: SPECIFIC },
  ]);
  expect(comparison.runs.map((run) => [run.cols, run.request.steps])).toEqual([
    [2, 5],
    [2, 5],
  ]);

  const columns = page.getByTestId("compare-column");
  await expect(columns).toHaveCount(2);
  for (const [i, run] of comparison.runs.entries()) {
    const column = columns.nth(i);
    await expectGridComplete(column.getByTestId("compare-grid"), run);
    await expect(column.getByTestId("compare-uncertainty")).toHaveText(/\d/);
  }

  const [vague, specific] = (await getComparison(page.request, id)).runs;
  expect(vague.description, "vague run described").not.toBeNull();
  expect(specific.description, "specific run described").not.toBeNull();
  expect(vague.description!.uncertainty).toBeGreaterThan(specific.description!.uncertainty);

  await expectImagesLoaded(page);
  await page.screenshot({ path: path.join(ARTIFACTS_DIR, "compare.png"), fullPage: true });
});
