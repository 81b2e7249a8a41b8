import { useSyncExternalStore } from "react";
import { VIEW_PREFS, type ViewPref, type ViewPrefName, type ViewPrefValue } from "./viewPrefs";

function read<Name extends ViewPrefName>(name: Name): ViewPrefValue<Name> {
  const pref: ViewPref<string> = VIEW_PREFS[name];
  const value = document.documentElement.getAttribute(pref.attribute);
  return (value !== null && pref.values.includes(value) ? value : pref.values[0]) as ViewPrefValue<Name>;
}

/** The current choice (the default on the server and during hydration) and a setter that remembers it. */
export function useViewPref<Name extends ViewPrefName>(name: Name): [ViewPrefValue<Name>, (value: ViewPrefValue<Name>) => void] {
  const pref: ViewPref<string> = VIEW_PREFS[name];
  const value = useSyncExternalStore(
    (onChange) => {
      const observer = new MutationObserver(onChange);
      observer.observe(document.documentElement, { attributes: true, attributeFilter: [pref.attribute] });
      return () => observer.disconnect();
    },
    () => read(name),
    () => pref.values[0] as ViewPrefValue<Name>,
  );
  function set(next: ViewPrefValue<Name>) {
    if (next === pref.values[0]) document.documentElement.removeAttribute(pref.attribute);
    else document.documentElement.setAttribute(pref.attribute, next);
    try {
      localStorage.setItem(pref.storageKey, next);
    } catch {
      // Private modes may refuse storage; the choice still holds on this page.
    }
  }
  return [value, set];
}
