import { expect, test } from "@playwright/test";
import { createRun } from "./helpers/api";
import { expectRunDone } from "./helpers/pages";

/*
 * Every page works under its Content-Security-Policy (no inline script without the page's nonce),
 * and every answer, pages, API and stored images alike, carries the security headers.
 */

const RUN = { input: { kind: "caption" as const, text: "a white square at the bottom" }, seed: 41, cols: 2, steps: 4, scheduler: "ddim" as const };

test("every page runs under a nonce-based CSP with no violation, and a script without the nonce is refused", async ({ page }) => {
  const violations: string[] = [];
  page.on("console", (message) => {
    if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
  });
  const run = await createRun(page.request, RUN);
  const nonces = new Set<string>();
  for (const path of ["/", "/compare", "/gallery", `/runs/${run.id}`, `/runs/${run.id}/present`]) {
    const response = await page.goto(path);
    const policy = response?.headers()["content-security-policy"] ?? "";
    expect(policy, path).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9+/=]+' 'strict-dynamic'/);
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).not.toContain("unsafe-eval");
    nonces.add(/'nonce-([^']+)'/.exec(policy)![1]);
    if (path === `/runs/${run.id}`) await expectRunDone(page);
    else await page.waitForLoadState("networkidle");
  }
  // A fresh nonce for every page view.
  expect(nonces.size).toBe(5);
  // The page is interactive, so its own scripts ran: the theme toggle works.
  await page.goto("/");
  const before = await page.evaluate(() => document.documentElement.classList.contains("dark"));
  await page.getByTestId("theme-toggle").click();
  await expect.poll(() => page.evaluate(() => document.documentElement.classList.contains("dark"))).toBe(!before);
  expect(violations).toEqual([]);

  // Markup an XSS would inject (an inline handler) does not run, and the browser reports why.
  const refused = await page.evaluate(
    () =>
      new Promise<string>((resolve) => {
        document.addEventListener("securitypolicyviolation", (event) => resolve(event.violatedDirective), { once: true });
        document.body.insertAdjacentHTML("beforeend", '<img src="/icon.svg?x" onload="window.__injected = true">');
      }),
  );
  expect(refused).toMatch(/^script-src/);
  expect(await page.evaluate(() => (window as unknown as { __injected?: boolean }).__injected)).toBeUndefined();
});

test("pages, API answers and stored images carry nosniff, frame and referrer headers", async ({ page }) => {
  const run = await createRun(page.request, RUN);
  await page.goto(`/runs/${run.id}`);
  const done = await expectRunDone(page);
  for (const path of ["/", `/api/runs/${run.id}`, `/api/images/${done.cells[0].image}`, "/api/health", "/icon.svg"]) {
    const headers = (await page.request.get(path)).headers();
    expect(headers["x-content-type-options"], path).toBe("nosniff");
    expect(headers["x-frame-options"], path).toBe("DENY");
    expect(headers["referrer-policy"], path).toBe("strict-origin-when-cross-origin");
  }
});
