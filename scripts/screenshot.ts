/*
 * Renders docs/screenshot.png, the run page the README shows: builds the app, serves the
 * production build on a free port with a throwaway data directory, decodes "a red shape"
 * as a 5-row × 4-column grid and photographs the finished page at 1280×900 in the light theme.
 *
 *   tsx scripts/screenshot.ts [--skip-build]     (--skip-build reuses the current .next build)
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type Browser } from "@playwright/test";
import { CHROMIUM_ARGS, CHROMIUM_EXECUTABLE } from "../e2e/chromium";
import { buildUnlessSkipped, freePort, ROOT, startWeb, waitUntilServing } from "./lib/processes";

const OUTPUT = path.join(ROOT, "docs", "screenshot.png");
const RUN_TIMEOUT_MS = 120_000;
const FINISHED = ["done", "failed", "cancelled"];
// The default plan (geodesic, 5 rows), as a new user's first run has it.
const REQUEST = {
  input: { kind: "caption", text: "a red shape" },
  cols: 4,
};

async function main(): Promise<void> {
  buildUnlessSkipped();

  const port = await freePort();
  const baseURL = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), "penumbra-screenshot-"));
  const server = startWeb(port, { PENUMBRA_DATA: dataDir });
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM_EXECUTABLE, args: CHROMIUM_ARGS, headless: true });
    await waitUntilServing(`${baseURL}/api/health`, server.process);
    const created = await fetch(`${baseURL}/api/runs`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(REQUEST) });
    if (!created.ok) throw new Error(`POST /api/runs: ${created.status} ${await created.text()}`);
    const { run } = (await created.json()) as { run: { id: string } };

    const page = await browser.newPage({ baseURL, viewport: { width: 1280, height: 900 }, colorScheme: "light" });
    await page.goto(`/runs/${run.id}`);
    const status = page.getByTestId("run-status");
    await status.and(page.locator(FINISHED.map((name) => `[data-status="${name}"]`).join(", "))).waitFor({ timeout: RUN_TIMEOUT_MS });
    const finished = await status.getAttribute("data-status");
    if (finished !== "done") throw new Error(`run ${run.id} ended ${finished}`);
    await page.waitForFunction(() => {
      const cells = [...document.querySelectorAll('[data-testid="grid-cell"]')];
      const images = [...document.images];
      return cells.length === 20 && cells.every((cell) => cell.getAttribute("data-state") === "done") && images.every((image) => image.complete);
    });
    await page.screenshot({ path: OUTPUT });
    console.log(`wrote ${path.relative(ROOT, OUTPUT)} (run ${run.id})`);
  } finally {
    await browser?.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
