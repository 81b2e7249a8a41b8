import type { Description } from "../api";
import { percentileText, significant } from "../format";
import { DimensionChart } from "./DimensionChart";

/** The scalar and where it falls among the preset's reference inputs, as number, words and a scale. */
export function UncertaintyReading({ description, size = "regular" }: { description: Description; size?: "regular" | "small" }) {
  const percentile = Math.min(100, Math.max(0, description.percentile));
  return (
    <div className="flex flex-col gap-2">
      <p className="flex items-baseline gap-2">
        <span data-testid="uncertainty-scalar" className={`font-mono font-semibold tabular-nums ${size === "small" ? "text-lg" : "text-3xl tracking-tight"}`}>
          {significant(description.uncertainty, 3)}
        </span>
        <span className="text-xs text-muted">mean per-dimension variance</span>
      </p>
      <div>
        <div className="relative h-1.5 rounded-full bg-sunken ring-1 ring-inset ring-line" aria-hidden="true">
          <div className="absolute inset-y-0 left-0 rounded-full bg-accent/35" style={{ width: `${percentile}%` }} />
          <div className="absolute -top-1 h-3.5 w-0.5 -translate-x-1/2 rounded bg-accent" style={{ left: `${percentile}%` }} />
        </div>
        <p data-testid="uncertainty-percentile" className="mt-1.5 text-sm text-muted tabular-nums">
          {percentileText(description.percentile, description.modality)}
        </p>
      </div>
    </div>
  );
}

/** How uncertain the input is and where that uncertainty sits across the embedding's dimensions. */
export function UncertaintyPanel({ description }: { description: Description | null }) {
  return (
    <section aria-labelledby="uncertainty-heading" className="flex flex-col gap-4 rounded-lg border border-line bg-surface p-4">
      <h2 id="uncertainty-heading" className="text-xs font-semibold uppercase tracking-wider text-muted">
        Uncertainty
      </h2>
      {description ? (
        <>
          <UncertaintyReading description={description} />
          <DimensionChart alpha={description.alpha} beta={description.beta} />
          <dl className="grid grid-cols-[auto_1fr] gap-x-3 gap-y-1 border-t border-line pt-3 text-xs tabular-nums">
            <dt className="text-muted">Dimensions</dt>
            <dd className="text-right font-mono">{description.dim}</dd>
            <dt className="text-muted">Embedding norm</dt>
            <dd className="text-right font-mono">{significant(description.embeddingNorm, 4)}</dd>
            {description.input.kind === "caption" && (
              <>
                <dt className="text-muted">Tokens</dt>
                <dd className="text-right font-mono">
                  {description.input.tokens}
                  {description.input.truncated && <span className="ml-1 font-sans text-danger">(truncated)</span>}
                </dd>
              </>
            )}
          </dl>
          {description.modality === "text" && <BridgeInfo bridge={description.bridge} />}
        </>
      ) : (
        <p className="text-sm text-muted">Measured as soon as the run starts: the scalar, its percentile and the per-dimension α and β appear here.</p>
      )}
    </section>
  );
}

function BridgeInfo({ bridge }: { bridge: Description["bridge"] }) {
  return (
    <div data-testid="bridge-info" className="rounded-md bg-sunken px-3 py-2.5 text-xs leading-relaxed text-muted">
      <p className="font-medium text-fg">
        Bridge: <span className="font-mono">{bridge?.type ?? "none"}</span>
      </p>
      {bridge ? (
        <p className="tabular-nums">
          Caption samples are shifted across the modality gap (‖image mean − text mean‖ = <span className="font-mono text-fg">{significant(bridge.gapNorm, 3)}</span>) and
          rescaled to the image norm <span className="font-mono text-fg">{significant(bridge.imageNorm, 3)}</span> before decoding.
        </p>
      ) : (
        <p>Caption samples go to the decoder as they are.</p>
      )}
    </div>
  );
}
