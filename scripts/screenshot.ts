/*
 * Renders docs/screenshot.png, the run page the README shows: builds the app, serves the
 * production build on a free port with a throwaway data directory, decodes "a red shape"
 * as a 5-row × 4-column grid and photographs the finished page at 1280×900 in the light theme.
 *
 *   tsx scripts/screenshot.ts [--skip-build]     (--skip-build reuses the current .next build)
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser } from "@playwright/test";
import { CHROMIUM_ARGS, CHROMIUM_EXECUTABLE } from "../e2e/chromium";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const NEXT = path.join(ROOT, "node_modules", ".bin", "next");
const OUTPUT = path.join(ROOT, "docs", "screenshot.png");
const SERVER_START_TIMEOUT_MS = 120_000;
const RUN_TIMEOUT_MS = 120_000;
const FINISHED = ["done", "failed", "cancelled"];
// The default plan (geodesic, 5 rows), as a new user's first run has it.
const REQUEST = {
  input: { kind: "caption", text: "a red shape" },
  cols: 4,
};

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `url` until it answers 2xx, failing early if the server exits. */
async function waitUntilServing(url: string, server: ChildProcess): Promise<void> {
  const deadline = Date.now() + SERVER_START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) throw new Error(`the server exited with code ${server.exitCode} before serving`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // Not listening yet.
    }
    await delay(500);
  }
  throw new Error(`${url} did not answer within ${SERVER_START_TIMEOUT_MS / 1000} s`);
}

function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.pid === undefined) return Promise.resolve();
  const exited = new Promise<void>((resolve) => server.once("exit", () => resolve()));
  // next start forks a worker: signal the whole process group it leads.
  process.kill(-server.pid, "SIGTERM");
  return exited;
}

async function main(): Promise<void> {
  if (!process.argv.includes("--skip-build")) {
    const build = spawnSync(NEXT, ["build"], { cwd: ROOT, stdio: "inherit", env: { ...process.env, NEXT_TELEMETRY_DISABLED: "1" } });
    if (build.status !== 0) throw new Error(`next build failed (exit ${build.status})`);
  }

  const port = await freePort();
  const baseURL = `http://127.0.0.1:${port}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), "penumbra-screenshot-"));
  const server = spawn(NEXT, ["start", "--hostname", "127.0.0.1", "--port", String(port)], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, PENUMBRA_DATA: dataDir, NEXT_TELEMETRY_DISABLED: "1" },
  });
  let browser: Browser | undefined;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM_EXECUTABLE, args: CHROMIUM_ARGS, headless: true });
    await waitUntilServing(`${baseURL}/api/health`, server);
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
    await stopServer(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
