import type { Description } from "../api";
import { epistemicText, fixed, percentileText, significant, tailName } from "../format";
import { DimensionChart } from "./DimensionChart";

/** A percentile (0–100) as a filled scale with a tick. */
function PercentileScale({ percentile, tone = "accent" }: { percentile: number; tone?: "accent" | "warn" }) {
  const p = Math.min(100, Math.max(0, percentile));
  return (
    <div className="relative h-1.5 rounded-full bg-sunken ring-1 ring-inset ring-line" aria-hidden="true">
      <div className={`absolute inset-y-0 left-0 rounded-full ${tone === "warn" ? "bg-warn/35" : "bg-accent/35"}`} style={{ width: `${p}%` }} />
      <div className={`absolute -top-1 h-3.5 w-0.5 -translate-x-1/2 rounded ${tone === "warn" ? "bg-warn" : "bg-accent"}`} style={{ left: `${p}%` }} />
    </div>
  );
}

/**
 * The aleatoric scalar (how widely the caption's meanings spread) and where it falls among the
 * preset's reference inputs; beside it, when the preset has one, the epistemic score (how far the
 * input lies from what the preset was trained on) and its percentile among held-out inputs.
 */
export function UncertaintyReading({ description, size = "regular" }: { description: Description; size?: "regular" | "small" }) {
  const small = size === "small";
  const { epistemic, outOfDistribution } = description;
  return (
    <div className={`flex flex-col ${small ? "gap-2" : "gap-3"}`}>
      <div className="flex flex-col gap-2">
        {epistemic !== undefined && <h3 className="text-[10px] font-semibold uppercase tracking-wider text-faint">Aleatoric · spread of meanings</h3>}
        <p className="flex items-baseline gap-2">
          <span data-testid="uncertainty-scalar" className={`font-mono font-semibold tabular-nums ${small ? "text-lg" : "text-3xl tracking-tight"}`}>
            {significant(description.uncertainty, 3)}
          </span>
          <span className="text-xs text-muted">mean per-dimension variance</span>
        </p>
        <div>
          <PercentileScale percentile={description.percentile} />
          <p data-testid="uncertainty-percentile" className={`mt-1.5 text-muted tabular-nums ${small ? "text-xs" : "text-sm"}`}>
            {percentileText(description.percentile, description.modality)}
          </p>
        </div>
      </div>
      {epistemic !== undefined && (
        <div data-testid="epistemic" className="flex flex-col gap-2 border-t border-line pt-2">
          <h3 className="text-[10px] font-semibold uppercase tracking-wider text-faint">Epistemic · distance from the training data</h3>
          {epistemic ? (
            <>
              <p className="flex items-baseline gap-2">
                <span data-testid="epistemic-score" className={`font-mono font-semibold tabular-nums ${small ? "text-base" : "text-xl tracking-tight"}`}>
                  {significant(epistemic.score, 3)}
                </span>
                <span className="text-xs text-muted">distance to the nearest training inputs</span>
              </p>
              <div>
                <PercentileScale percentile={epistemic.percentile} tone={outOfDistribution?.flagged ? "warn" : "accent"} />
                <p data-testid="epistemic-percentile" className={`mt-1.5 text-muted tabular-nums ${small ? "text-xs" : "text-sm"}`}>
                  {epistemicText(epistemic.percentile, description.modality)}
                </p>
              </div>
            </>
          ) : (
            <p className="text-xs text-muted">Not measured: this preset has no epistemic model.</p>
          )}
        </div>
      )}
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
            {description.decoder && (
              <>
                <dt className="text-muted" title="Half of the plain samples lie closer to the mean than this angle, in the decoder's space">
                  Sample angle, median
                </dt>
                <dd className="text-right font-mono">{fixed(description.decoder.sampleAngleMedian, 1)}°</dd>
                <dt className="text-muted" title={`${Math.round(description.decoder.tailQuantile * 100)}% of plain samples lie within this angle of the mean, in the decoder's space`}>
                  {tailName(description.decoder.tailQuantile)}, tail angle
                </dt>
                <dd className="text-right font-mono">{fixed(description.decoder.tailAngle, 1)}°</dd>
              </>
            )}
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
