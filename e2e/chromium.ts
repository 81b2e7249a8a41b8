/**
 * The browser every Penumbra browser check runs on: Debian's Chromium, so no browser is ever
 * downloaded. Shared by playwright.config.ts and scripts/screenshot.ts.
 */
export const CHROMIUM_EXECUTABLE = "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--headless",
  // Containers run as root without user namespaces, where the sandbox cannot start.
  "--no-sandbox",
  "--disable-gpu",
  // Nothing outside the test server should be contacted or updated mid-run.
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];
