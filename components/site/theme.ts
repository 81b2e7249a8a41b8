/** localStorage key of the chosen theme ("dark" or "light"); absent means "follow the system". */
export const THEME_KEY = "penumbra-theme";

/** Runs in <head> before first paint: the stored choice, else the system preference, as a class on <html>. */
export const THEME_SCRIPT = `(function(){try{var t=localStorage.getItem("${THEME_KEY}");var d=t?t==="dark":matchMedia("(prefers-color-scheme: dark)").matches;document.documentElement.classList.toggle("dark",d)}catch(e){}})()`;
