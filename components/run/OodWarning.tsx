import type { Description } from "../api";

interface OodWarningProps {
  description: Pick<Description, "outOfDistribution" | "modality"> | null;
  presetName: string;
  size?: "regular" | "small";
}

/**
 * Says plainly when the input lies outside what the preset learned, with the engine's reasons.
 * Nothing when the run is not described yet, not flagged, or stored before the check existed.
 */
export function OodWarning({ description, presetName, size = "regular" }: OodWarningProps) {
  const ood = description?.outOfDistribution;
  if (!ood?.flagged) return null;
  const what = description?.modality === "image" ? "image" : "caption";
  const small = size === "small";
  return (
    <div
      role="alert"
      data-testid="ood-warning"
      className={`flex gap-3 rounded-lg border border-warn/40 bg-warn/10 text-fg ${small ? "px-3 py-2 text-xs" : "px-4 py-3 text-sm"}`}
    >
      <svg viewBox="0 0 20 20" className={`mt-0.5 shrink-0 text-warn ${small ? "size-4" : "size-5"}`} aria-hidden="true" fill="none" stroke="currentColor" strokeWidth="1.7" strokeLinecap="round" strokeLinejoin="round">
        <path d="M10 3.2 2.6 16.3h14.8L10 3.2Z" />
        <path d="M10 8.2v3.7M10 14.2v.1" />
      </svg>
      <div className="flex min-w-0 flex-col gap-1">
        <p className="font-semibold">Outside what the preset knows</p>
        <p className="text-muted">
          This {what} lies outside what the <span className="font-mono text-fg">{presetName}</span> preset was trained on, so its samples and its uncertainty say little about what the {what} means.
        </p>
        {ood.reasons.length > 0 && (
          <ul className="list-disc pl-4 marker:text-warn">
            {ood.reasons.map((reason) => (
              <li key={reason} data-testid="ood-reason" className="break-words">
                {reason}
              </li>
            ))}
          </ul>
        )}
      </div>
    </div>
  );
}
