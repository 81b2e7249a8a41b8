"use client";

import { useId, type ReactNode } from "react";
import type { Description, Plan } from "../api";
import { DEFAULT_TAIL, fixed, tailName } from "../format";
import { useViewPref } from "./useViewPref";

interface GridLegendProps {
  plan: Plan;
  description: Pick<Description, "decoder"> | null;
  input: "caption" | "image";
}

/**
 * How to read the grid: what its rows and columns are for this run's plan, and every number the
 * labels and cells show, decoder side first. Open the first time; folding it is remembered.
 */
export function GridLegend({ plan, description, input }: GridLegendProps) {
  // Open on the server and during hydration; a folded legend is hidden by CSS until React catches up.
  const [legend, setLegend] = useViewPref("legend");
  const open = legend === "open";
  const bodyId = useId();
  const toggle = () => setLegend(open ? "closed" : "open");

  const tail = plan.kind === "geodesic" ? plan.tail : (description?.decoder?.tailQuantile ?? DEFAULT_TAIL);
  const tailAngle = description?.decoder?.tailAngle;
  return (
    <section data-testid="grid-legend" aria-label="How to read this grid" className="rounded-lg border border-line bg-surface text-sm">
      <h2>
        <button
          type="button"
          data-testid="legend-toggle"
          aria-expanded={open}
          aria-controls={bodyId}
          onClick={toggle}
          className="flex w-full cursor-pointer items-center justify-between gap-3 rounded-lg px-4 py-3 text-left text-xs font-semibold uppercase tracking-wider text-muted hover:text-fg"
        >
          How to read this grid
          <svg viewBox="0 0 20 20" className={`size-4 shrink-0 transition-transform ${open ? "rotate-180" : ""}`} aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.8" strokeLinecap="round" strokeLinejoin="round">
            <path d="m5 8 5 5 5-5" />
          </svg>
        </button>
      </h2>
      <div id={bodyId} data-testid="legend-body" hidden={!open} className="flex flex-col gap-4 border-t border-line px-4 py-3 leading-relaxed text-muted [html[data-legend=closed]_&]:hidden">
        <div className="grid gap-4 md:grid-cols-2">
          <Part title="Rows: distance from the mean, growing downward">
            <RowsText plan={plan} input={input} tailName={tailName(tail)} tailShare={Math.round(tail * 100)} tailAngle={tailAngle} />
          </Part>
          <Part title="Columns: one sample direction each">
            <p>
              Each column follows one direction away from the mean. Down a column every row keeps that direction and the same diffusion noise seed, so what changes from row to row comes
              from the embedding alone. Columns differ from each other in both.
            </p>
          </Part>
        </div>
        <p className="text-xs">
          <em className="not-italic font-medium text-fg">Plain samples</em> are ordinary random draws from the distribution; several numbers below are shares of them. In a row label, <Mono>=</Mono>{" "}
          holds for every cell of the row{plan.kind === "shell" ? "" : <>, <Mono>≈</Mono> is the average over the row&apos;s cells (each has its own value), and <Mono>mean</Mono> marks the distribution&apos;s mean row</>}.
        </p>
        <div className="grid gap-4 md:grid-cols-2">
          <Part title="In the decoder's space" note="what the image decoder is given; shown first">
            <Terms>
              <Term name="θ">the angle, in degrees, between this cell&apos;s decoder input and the mean&apos;s. 0° is the mean itself.</Term>
              <Term name="q_dec">the share of 256 plain samples that lie at a smaller angle from the mean. 0.50: half of them are closer.</Term>
              <Term name="distance">the straight-line (Euclidean) distance between this cell&apos;s decoder input and the mean&apos;s.</Term>
            </Terms>
          </Part>
          <Part title="Where samples are drawn" note="the adapter's space, where the distribution lives">
            <Terms>
              {plan.kind === "shell" ? (
                <Term name="q target">the row&apos;s shell: its likelihood quantile, the same for every cell of the row.</Term>
              ) : (
                <Term name="λ">the position on the line μ + λ(x − μ) from the mean μ (λ = 0) through the column&apos;s sample x (λ = 1).</Term>
              )}
              <Term name="q">the likelihood quantile P(k, T): the share of plain samples more likely than this point.</Term>
              <Term name="T">the likelihood radius Σ(|x − μ|/α)^β: distance from μ measured in each dimension&apos;s own scale α and shape β.</Term>
              <Term name="NLL">the negative log-likelihood of the point; lower is more likely.</Term>
              <Term name="cos to μ">the cosine similarity to the mean; 1 is the same direction.</Term>
              <Term name="‖x − μ‖">the straight-line distance from the mean in this space.</Term>
            </Terms>
          </Part>
        </div>
      </div>
    </section>
  );
}

function RowsText({ plan, input, tailName: tail, tailShare, tailAngle }: { plan: Plan; input: "caption" | "image"; tailName: string; tailShare: number; tailAngle: number | undefined }) {
  const typical = `the single most typical embedding for this ${input}`;
  if (plan.kind === "geodesic") {
    return (
      <p>
        The top row (θ = 0°) is the mean of the distribution, {typical}. Each row below aims at a larger angle θ from it in the decoder&apos;s space, in equal steps, out to <Mono>{tail}</Mono>: the
        angle that {tailShare}% of plain samples stay within{tailAngle === undefined ? "" : <>, here {fixed(tailAngle, 1)}°</>}. Every cell of a row aims at the same angle.
      </p>
    );
  }
  if (plan.kind === "interpolate") {
    return (
      <p>
        The top row (λ = 0) is the mean of the distribution, {typical}. Down a column each row steps further along the straight line from the mean through that column&apos;s sample: λ = 1 is
        the sample itself, λ = 2 twice as far. The steps are equal where samples are drawn, not in what the decoder sees; θ in each cell says how far that is.
      </p>
    );
  }
  return (
    <p>
      Each row is a shell of equal likelihood: q is the share of plain samples that lie closer to the mean (are more likely) than every cell of the row. A shell plan has no mean row; even
      its top row lies a step away from the mean.
    </p>
  );
}

function Part({ title, note, children }: { title: string; note?: string; children: ReactNode }) {
  return (
    <div className="flex min-w-0 flex-col gap-1.5">
      <h3 className="font-medium text-fg">
        {title}
        {note && <span className="font-normal text-faint"> · {note}</span>}
      </h3>
      {children}
    </div>
  );
}

function Terms({ children }: { children: ReactNode }) {
  return <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 text-xs">{children}</dl>;
}

function Term({ name, children }: { name: string; children: ReactNode }) {
  return (
    <div className="contents">
      <dt className="font-mono text-fg whitespace-nowrap">{name}</dt>
      <dd>{children}</dd>
    </div>
  );
}

function Mono({ children }: { children: ReactNode }) {
  return <span className="rounded bg-sunken px-1 font-mono text-fg">{children}</span>;
}
