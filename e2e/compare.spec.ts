import path from "node:path";
import { expect, test } from "@playwright/test";
import { COMPARE_PATH, getComparison } from "./helpers/api";
import { ARTIFACTS_DIR, expectGridComplete, expectImagesLoaded, expectShownAs, fillSettings, shownNumber } from "./helpers/pages";

const VAGUE = "a shape";
const SPECIFIC = "a large red circle at the top left";

test("comparing a vague and a specific caption shows two finished grids, the vague one more uncertain", async ({ page }) => {
  await page.goto("/compare");
  const inputs = page.getByTestId("compare-input");
  await expect(inputs).toHaveCount(2);
  await inputs.nth(0).fill(VAGUE);
  await inputs.nth(1).fill(SPECIFIC);
  // The uncertainty comes from the caption alone; a small, quick grid is enough to see both finish
  // (10 steps: the preset's PNDM scheduler blurs colours below about 10, which the screenshot would show).
  await fillSettings(page, { "cols-input": 2, "steps-input": 10 });
  await page.getByTestId("compare-submit").click();
  await page.waitForURL(COMPARE_PATH);

  const id = COMPARE_PATH.exec(new URL(page.url()).pathname)![1];
  const comparison = await getComparison(page.request, id);
  expect(comparison.runs.map((run) => run.request.input)).toEqual([
    { kind: "caption", text: VAGUE },
    { kind: "caption", text: SPECIFIC },
  ]);
  expect(comparison.runs.map((run) => [run.cols, run.request.steps])).toEqual([
    [2, 10],
    [2, 10],
  ]);

  const columns = page.getByTestId("compare-column");
  await expect(columns).toHaveCount(2);
  for (const [i, run] of comparison.runs.entries()) {
    await expectGridComplete(columns.nth(i).getByTestId("compare-grid"), run);
  }

  const runs = (await getComparison(page.request, id)).runs;
  const shown: number[] = [];
  for (const [i, run] of runs.entries()) {
    expect(run.description, `${run.id} described`).not.toBeNull();
    const uncertainty = columns.nth(i).getByTestId("compare-uncertainty");
    await expect(uncertainty).toHaveText(/\d/);
    shown.push(await shownNumber(uncertainty));
    expectShownAs(shown[i], run.description!.uncertainty, `uncertainty of ${JSON.stringify(run.request.input)}`);
  }
  const [vague, specific] = shown;
  expect(vague, `"${VAGUE}" is vaguer than "${SPECIFIC}"`).toBeGreaterThan(specific);

  await expectImagesLoaded(page);
  await page.screenshot({ path: path.join(ARTIFACTS_DIR, "compare.png"), fullPage: true });
});

test("an empty input's error goes away once the inputs are filled in", async ({ page }) => {
  await page.goto("/compare");
  const inputs = page.getByTestId("compare-input");
  await inputs.nth(1).fill(SPECIFIC);
  await page.getByTestId("compare-submit").click();
  await expect(page.getByTestId("form-error")).toContainText("Input 1 is empty");
  await inputs.nth(0).fill(VAGUE);
  await expect(page.getByTestId("form-error")).toHaveCount(0);
});
