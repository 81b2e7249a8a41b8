/*
 * How someone likes to read run pages, remembered in localStorage and mirrored on <html> as data
 * attributes. An inline script sets the attributes before first paint, so CSS can size the grid
 * and fold panels on the very first frame (no flash, no layout shift) and the server can render
 * the defaults without knowing the choice.
 */

export interface ViewPref<Value extends string> {
  /** Attribute on <html>; absent means the first value. */
  readonly attribute: `data-${string}`;
  readonly storageKey: string;
  /** Allowed values, default first. */
  readonly values: readonly [Value, ...Value[]];
}

export const VIEW_PREFS = {
  /** The "How to read this grid" legend. */
  legend: { attribute: "data-legend", storageKey: "penumbra-legend", values: ["open", "closed"] },
  /** The uncertainty panel beside the run grid; hidden gives the grid the page's whole width. */
  panel: { attribute: "data-panel", storageKey: "penumbra-panel", values: ["shown", "hidden"] },
  /** Largest size of a cell on run and compare pages (globals.css maps each to a width). */
  cellSize: { attribute: "data-cell-size", storageKey: "penumbra-cell-size", values: ["medium", "small", "large"] },
} as const satisfies Record<string, ViewPref<string>>;

type Prefs = typeof VIEW_PREFS;
export type ViewPrefName = keyof Prefs;
export type ViewPrefValue<Name extends ViewPrefName> = Prefs[Name]["values"][number];

/** Runs in <head> before first paint: copies each stored, still-allowed choice onto <html>. */
export const VIEW_PREFS_SCRIPT = `(function(){try{var p=${JSON.stringify(Object.values(VIEW_PREFS))};for(var i=0;i<p.length;i++){var v=localStorage.getItem(p[i].storageKey);if(v&&v!==p[i].values[0]&&p[i].values.indexOf(v)>0)document.documentElement.setAttribute(p[i].attribute,v)}}catch(e){}})()`;
