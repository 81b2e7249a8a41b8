import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import path from "node:path";
import { defineConfig } from "@playwright/test";
import { CHROMIUM_ARGS, CHROMIUM_EXECUTABLE } from "./e2e/chromium";

/*
 * Browser tests against the production build with the real models.
 *
 * Playwright loads this file in the runner and again in every worker, so the port and the data
 * directory are chosen once and handed on through process.env (workers inherit it).
 *   PENUMBRA_E2E_PORT        use this port instead of probing from 3100 upward
 *   PENUMBRA_E2E_SKIP_BUILD  reuse the existing .next build (when iterating on the tests only)
 */

const FIRST_PORT = 3100;
const PORTS_TO_TRY = 100;

/** The first port from `first` that nothing listens on; a child process because a config is loaded synchronously. */
function findFreePort(first: number): number {
  // listen() without a host binds every interface, so it fails if anything holds the port on any of them.
  const probe = `
    const net = require("node:net");
    const tryPort = (port) => new Promise((resolve) => {
      const server = net.createServer();
      server.once("error", () => resolve(false));
      server.listen(port, () => server.close(() => resolve(true)));
    });
    (async () => {
      for (let port = ${first}; port < ${first + PORTS_TO_TRY}; port++) {
        if (await tryPort(port)) { process.stdout.write(String(port)); return; }
      }
      process.exitCode = 1;
    })();`;
  const answer = execFileSync(process.execPath, ["--input-type=commonjs", "-e", probe], { encoding: "utf8" });
  const port = Number(answer);
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no free port in ${first}..${first + PORTS_TO_TRY - 1}`);
  return port;
}

process.env.PENUMBRA_E2E_PORT ??= String(findFreePort(FIRST_PORT));
if (!process.env.PENUMBRA_E2E_DATA) {
  // A fresh store per test run, so ids, the gallery and the queue start empty. Only named here:
  // the server creates it on first use, so loading the config (--list) leaves nothing behind.
  process.env.PENUMBRA_E2E_DATA = path.join(tmpdir(), `penumbra-e2e-${randomBytes(6).toString("hex")}`);
  process.env.PENUMBRA_E2E_DATA_OWNED = "1";
}

const port = Number(process.env.PENUMBRA_E2E_PORT);
const dataDir = process.env.PENUMBRA_E2E_DATA;
const baseURL = `http://127.0.0.1:${port}`;
const next = "./node_modules/.bin/next";
// npm start's server: Next.js behind the front server (rate limits, request timeouts).
const start = `./node_modules/.bin/tsx bin/serve.ts --hostname 127.0.0.1 --port ${port}`;

export default defineConfig({
  testDir: "e2e",
  testMatch: "**/*.spec.ts",
  outputDir: "e2e/artifacts/test-results",
  reporter: "list",
  // One server with one decode queue: tests run one after another.
  workers: 1,
  fullyParallel: false,
  retries: 0,
  forbidOnly: !!process.env.CI,
  timeout: 90_000,
  expect: { timeout: 15_000 },
  globalTeardown: "./e2e/global-teardown.ts",
  use: {
    baseURL,
    browserName: "chromium",
    headless: true,
    colorScheme: "light",
    viewport: { width: 1280, height: 900 },
    acceptDownloads: true,
    trace: "retain-on-failure",
    screenshot: "only-on-failure",
    launchOptions: { executablePath: CHROMIUM_EXECUTABLE, args: CHROMIUM_ARGS },
  },
  webServer: {
    command: process.env.PENUMBRA_E2E_SKIP_BUILD ? start : `${next} build && ${start}`,
    // Health opens the preset, so the server is only "up" once the models load.
    url: `${baseURL}/api/health`,
    reuseExistingServer: false,
    timeout: 240_000,
    stdout: "ignore",
    stderr: "pipe",
    env: {
      PENUMBRA_DATA: dataDir,
      // Tests pause between steps (downloads, reloads); nothing they start should be cancelled as unwatched.
      PENUMBRA_IDLE_CANCEL_MS: "60000",
      // One browser stands in for every user here; the limits themselves are tested in lib/server.
      PENUMBRA_READ_LIMIT: "off",
      PENUMBRA_WRITE_LIMIT: "off",
      PENUMBRA_CLIENT_SHARE: "1",
      NEXT_TELEMETRY_DISABLED: "1",
    },
  },
});
