/** Shared class lists, so buttons and fields look the same on every page. */

const BUTTON_BASE =
  "inline-flex items-center justify-center gap-1.5 rounded-md text-sm font-medium whitespace-nowrap transition-colors disabled:cursor-not-allowed disabled:opacity-50 aria-disabled:pointer-events-none aria-disabled:opacity-50";

export const button = {
  primary: `${BUTTON_BASE} h-9 px-4 bg-accent text-accent-fg hover:bg-accent/90`,
  secondary: `${BUTTON_BASE} h-9 px-3 border border-line bg-surface text-fg hover:bg-sunken hover:border-line-strong`,
  /** Toolbar size, for rows of actions. */
  tool: `${BUTTON_BASE} h-8 px-2.5 text-[13px] border border-line bg-surface text-fg hover:bg-sunken hover:border-line-strong`,
} as const;

export const field =
  "w-full rounded-md border border-line bg-surface px-3 py-2 text-sm text-fg placeholder:text-faint hover:border-line-strong focus-visible:border-accent focus-visible:outline-2 focus-visible:outline-offset-0";

export const label = "text-xs font-medium text-muted";
