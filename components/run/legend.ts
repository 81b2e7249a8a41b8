/** localStorage key of the run page's legend: "closed" once someone folds it, "open" when reopened; absent means open. */
export const LEGEND_KEY = "penumbra-legend";

/** Runs in <head> before first paint, so a legend someone folded stays folded without a flash of it open. */
export const LEGEND_SCRIPT = `(function(){try{if(localStorage.getItem("${LEGEND_KEY}")==="closed")document.documentElement.setAttribute("data-legend","closed")}catch(e){}})()`;
