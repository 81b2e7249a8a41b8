import path from "node:path";
import { expect, test } from "@playwright/test";
import { createRun, getRun } from "./helpers/api";
import { ARTIFACTS_DIR, composeCaption, expectGridComplete, expectImagesLoaded, expectRunDone } from "./helpers/pages";

/*
 * The page explains itself: a legend says what the rows, columns and numbers are, and an input
 * outside what the preset knows is flagged with the engine's reasons, on the run page, in a
 * comparison and on its gallery card. Small grids at few steps: these tests are about what the
 * page says, not about decoding.
 */

/** Words the shapes preset's caption corpus never contained. */
const OUTSIDE = "a photograph of a dog";
const INSIDE = "a red circle";
const QUICK = { cols: 2, steps: 5, scheduler: "ddim" } as const;

test("a caption with words the preset never saw is flagged on its run page, with those words", async ({ page }) => {
  // Through the compose form, so its default (geodesic) plan is what the engine receives.
  await composeCaption(page, OUTSIDE, { "cols-input": 2, "steps-input": 5 });
  const run = await expectRunDone(page);
  expect(run.request.plan.kind).toBe("geodesic");
  const ood = run.description?.outOfDistribution;
  expect(ood?.flagged, "the engine flags the caption").toBe(true);
  expect(ood?.unknownWords).toEqual(expect.arrayContaining(["photograph", "dog"]));

  const warning = page.getByTestId("ood-warning");
  await expect(warning).toBeVisible();
  await expect(warning).toContainText(/outside what the preset knows/i);
  for (const word of ood!.unknownWords) await expect(warning).toContainText(word);
  await expect(warning.getByTestId("ood-reason")).toHaveCount(ood!.reasons.length);
  if (run.description?.epistemic) {
    await expect(page.getByTestId("epistemic-score")).toBeVisible();
    await expect(page.getByTestId("epistemic-percentile")).toContainText(`${Math.round(run.description.epistemic.percentile)}%`);
  }

  // Geodesic rows say what they are: the mean first, then angles in the decoder's space.
  const labels = page.getByTestId("row-label");
  await expect(labels.first()).toContainText("mean");
  await expect(labels.nth(1)).toContainText(/θ = \d+(\.\d)?°/);
  await expect(labels.nth(1)).toContainText(/q_dec ≈ \d\.\d\d/);

  await expectImagesLoaded(page);
  await page.screenshot({ path: path.join(ARTIFACTS_DIR, "ood-run.png"), fullPage: true });

  // Published, its gallery card carries the badge.
  await page.getByTestId("publish").click();
  await expect(page.getByTestId("publish")).toHaveText(/Published/);
  await page.goto(`/gallery?q=${encodeURIComponent("dog")}`);
  const card = page.getByTestId("gallery-card").filter({ hasText: OUTSIDE });
  await expect(card).toHaveCount(1);
  await expect(card.getByTestId("ood-badge")).toHaveText(/outside the preset/);
});

test("an in-vocabulary caption shows no warning, and the legend explains the grid and folds away for good", async ({ page }) => {
  const created = await createRun(page.request, { input: { kind: "caption", text: INSIDE }, ...QUICK });
  await page.goto(`/runs/${created.id}`);
  const run = await expectRunDone(page);
  expect(run.description?.outOfDistribution?.flagged).toBe(false);
  await expect(page.getByTestId("ood-warning")).toHaveCount(0);

  const legend = page.getByTestId("grid-legend");
  const body = legend.getByTestId("legend-body");
  const toggle = legend.getByTestId("legend-toggle");
  await expect(body, "open the first time").toBeVisible();
  await expect(toggle).toHaveAttribute("aria-expanded", "true");
  for (const term of ["θ", "q_dec", "distance", "λ", "T", "NLL", "‖x − μ‖", "diffusion noise seed", "Rows: distance from the mean"]) {
    await expect(body).toContainText(term);
  }

  // A focused cell shows the decoder side first.
  await page.getByTestId("grid-cell").nth(run.cols).focus();
  const metrics = page.getByTestId("cell-metrics");
  await expect(metrics.getByTestId("cell-metrics-decoder")).toContainText("θ");
  await expect(metrics.getByTestId("cell-metrics-sampling")).toContainText("NLL");

  await toggle.click();
  await expect(body).toBeHidden();
  await expect(toggle).toHaveAttribute("aria-expanded", "false");
  await page.reload();
  await expect(body, "folded after a reload").toBeHidden();
  await expect(toggle).toHaveAttribute("aria-expanded", "false");
  await toggle.click();
  await expect(body).toBeVisible();
});

test("a comparison flags only the column whose input is outside the preset", async ({ page }) => {
  const answer = await page.request.post("/api/compare", { data: { inputs: [{ kind: "caption", text: OUTSIDE }, { kind: "caption", text: INSIDE }], ...QUICK, seed: 1 } });
  expect(answer.ok(), await answer.text()).toBe(true);
  const { comparison } = (await answer.json()) as { comparison: { id: string; runs: { id: string }[] } };
  await page.goto(`/compare/${comparison.id}`);
  const columns = page.getByTestId("compare-column");
  await expect(columns).toHaveCount(2);
  for (const [i, { id }] of comparison.runs.entries()) await expectGridComplete(columns.nth(i).getByTestId("compare-grid"), await getRun(page.request, id));
  await expect(columns.nth(0).getByTestId("ood-warning")).toContainText("dog");
  await expect(columns.nth(1).getByTestId("ood-warning")).toHaveCount(0);
});
