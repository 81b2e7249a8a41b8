import { fileURLToPath } from "node:url";
import { expect, type Locator, type Page } from "@playwright/test";
import { getRun, RUN_PATH, type Run } from "./api";

/* Steps on Penumbra's pages, written against the test ids in docs/ui-selectors.md. */

/** A whole grid decodes in seconds on CPU, but the first run also loads the models on a busy machine. */
export const GRID_TIMEOUT = 60_000;

export const ARTIFACTS_DIR = fileURLToPath(new URL("../artifacts/", import.meta.url));

export function runIdOf(page: Page): string {
  const match = RUN_PATH.exec(new URL(page.url()).pathname);
  if (!match) throw new Error(`not on a run page: ${page.url()}`);
  return match[1];
}

/** The settings fields shared by the compose and compare forms, by test id. */
export interface FormSettings {
  "cols-input"?: number;
  "seed-input"?: number;
  "steps-input"?: number;
}

/** Fills settings fields, unfolding the form's Advanced section first when a field is folded away. */
export async function fillSettings(page: Page, settings: FormSettings): Promise<void> {
  for (const [testId, value] of Object.entries(settings)) {
    const field = page.getByTestId(testId);
    if (!(await field.isVisible())) {
      await page.getByRole("button", { name: /advanced/i }).or(page.locator("summary", { hasText: /advanced/i })).first().click();
    }
    await field.fill(String(value));
  }
}

/** Submits a caption from the compose page with Enter and waits for the run page; answers the run id. */
export async function composeCaption(page: Page, caption: string, settings: FormSettings = {}): Promise<string> {
  await page.goto("/");
  await fillSettings(page, settings);
  const input = page.getByTestId("caption-input");
  await input.fill(caption);
  await input.press("Enter");
  await page.waitForURL(RUN_PATH);
  return runIdOf(page);
}

function unfinishedCells(grid: Locator): Locator {
  return grid.locator('[data-testid="grid-cell"]:not([data-state="done"])');
}

/** Waits until `grid` shows every one of the run's cells done. */
export async function expectGridComplete(grid: Locator, run: Pick<Run, "rows" | "cols">): Promise<void> {
  await expect(grid.getByTestId("grid-cell")).toHaveCount(run.rows * run.cols, { timeout: GRID_TIMEOUT });
  await expect(unfinishedCells(grid)).toHaveCount(0, { timeout: GRID_TIMEOUT });
}

/** Waits on the current run page until the run is done and its grid complete; answers the run as the API has it. */
export async function expectRunDone(page: Page): Promise<Run> {
  await expect(page.getByTestId("run-status")).toHaveAttribute("data-status", "done", { timeout: GRID_TIMEOUT });
  const run = await getRun(page.request, runIdOf(page));
  expect(run.status).toBe("done");
  await expectGridComplete(page.getByTestId("run-grid"), run);
  return run;
}

export interface CellImage {
  row: number;
  col: number;
  src: string;
}

/** Each grid cell's position and image path, in row-major order. */
export async function cellImages(grid: Locator): Promise<CellImage[]> {
  const cells = await grid.getByTestId("grid-cell").evaluateAll((elements) =>
    elements.map((element) => ({
      row: Number(element.getAttribute("data-row")),
      col: Number(element.getAttribute("data-col")),
      src: element.querySelector("img")?.getAttribute("src") ?? "",
    })),
  );
  return cells.sort((a, b) => a.row - b.row || a.col - b.col);
}

/** The first number an element shows ("0.0106 mean per-dimension variance" → 0.0106). */
export async function shownNumber(element: Locator): Promise<number> {
  const text = await element.innerText();
  const match = /-?\d+(?:\.\d+)?(?:e[-+]?\d+)?/i.exec(text);
  if (!match) throw new Error(`no number in ${JSON.stringify(text)}`);
  return Number(match[0]);
}

/** Expects `shown` to be `actual` as rounded for display (to three significant digits or better). */
export function expectShownAs(shown: number, actual: number, what: string): void {
  expect(Math.abs(shown - actual), `${what}: shown ${shown}, actually ${actual}`).toBeLessThanOrEqual(Math.abs(actual) * 0.005 + 1e-12);
}

/** Waits until every image on the page has loaded, so screenshots show pixels rather than blanks. */
export async function expectImagesLoaded(page: Page): Promise<void> {
  await expect
    .poll(() => page.locator("img").evaluateAll((images) => images.filter((image) => !(image as HTMLImageElement).complete).length))
    .toBe(0);
}

/*
 * Cells decode in about a second, faster than a test can poll, so the states cells pass
 * through are recorded inside the page by a MutationObserver installed before any page script.
 */

export interface SeenStates {
  cellStates: string[];
  runStatuses: string[];
}

declare global {
  interface Window {
    penumbraSeenStates?: SeenStates;
  }
}

export async function recordGridStates(page: Page): Promise<void> {
  await page.addInitScript(() => {
    const seen: SeenStates = { cellStates: [], runStatuses: [] };
    window.penumbraSeenStates = seen;
    const remember = (list: string[], value: string | null) => {
      if (value !== null && !list.includes(value)) list.push(value);
    };
    const note = (element: Element) => {
      const id = element.getAttribute("data-testid");
      if (id === "grid-cell") remember(seen.cellStates, element.getAttribute("data-state"));
      if (id === "run-status") remember(seen.runStatuses, element.getAttribute("data-status"));
    };
    new MutationObserver((records) => {
      for (const record of records) {
        if (record.type === "attributes") {
          note(record.target as Element);
          continue;
        }
        for (const node of record.addedNodes) {
          if (!(node instanceof Element)) continue;
          note(node);
          node.querySelectorAll('[data-testid="grid-cell"], [data-testid="run-status"]').forEach(note);
        }
      }
    }).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-state", "data-status"] });
  });
}

export async function seenStates(page: Page): Promise<SeenStates> {
  const seen = await page.evaluate(() => window.penumbraSeenStates);
  if (!seen) throw new Error("recordGridStates was not installed before the page loaded");
  return seen;
}
