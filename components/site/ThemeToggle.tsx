"use client";

import { useSyncExternalStore } from "react";
import { THEME_KEY } from "./theme";

// The theme lives on <html class="dark">, set before paint; this reads it back and watches it.
function subscribe(onChange: () => void) {
  const observer = new MutationObserver(onChange);
  observer.observe(document.documentElement, { attributes: true, attributeFilter: ["class"] });
  return () => observer.disconnect();
}
const isDark = () => document.documentElement.classList.contains("dark");

export function ThemeToggle() {
  // Unknown on the server; the icons below follow the class by CSS, so they are right before hydration.
  const dark = useSyncExternalStore<boolean | null>(subscribe, isDark, () => null);

  function toggle() {
    const next = !isDark();
    document.documentElement.classList.toggle("dark", next);
    try {
      localStorage.setItem(THEME_KEY, next ? "dark" : "light");
    } catch {
      // Private modes may refuse storage; the switch still applies to this page.
    }
  }

  return (
    <button
      type="button"
      data-testid="theme-toggle"
      onClick={toggle}
      aria-label="Dark theme"
      aria-pressed={dark ?? undefined}
      title="Switch between dark and light"
      className="inline-flex size-9 items-center justify-center rounded-md text-muted hover:bg-sunken hover:text-fg"
    >
      <svg viewBox="0 0 20 20" className="size-[18px] dark:hidden" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round">
        <path d="M16.5 12.2A7 7 0 0 1 7.8 3.5a7 7 0 1 0 8.7 8.7Z" />
      </svg>
      <svg viewBox="0 0 20 20" className="hidden size-[18px] dark:block" aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.6" strokeLinecap="round">
        <circle cx="10" cy="10" r="3.4" />
        <path d="M10 1.8v2M10 16.2v2M1.8 10h2M16.2 10h2M4.2 4.2l1.4 1.4M14.4 14.4l1.4 1.4M4.2 15.8l1.4-1.4M14.4 5.6l1.4-1.4" />
      </svg>
    </button>
  );
}
