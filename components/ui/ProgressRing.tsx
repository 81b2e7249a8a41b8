/** A small determinate ring, for a cell being denoised (`value` 0–1). */
export function ProgressRing({ value, className = "" }: { value: number; className?: string }) {
  const r = 9;
  const circumference = 2 * Math.PI * r;
  return (
    <svg viewBox="0 0 24 24" className={className} aria-hidden="true">
      <circle cx="12" cy="12" r={r} fill="none" stroke="currentColor" strokeOpacity="0.2" strokeWidth="3" />
      <circle
        cx="12"
        cy="12"
        r={r}
        fill="none"
        stroke="currentColor"
        strokeWidth="3"
        strokeLinecap="round"
        strokeDasharray={circumference}
        strokeDashoffset={circumference * (1 - Math.min(1, Math.max(0, value)))}
        transform="rotate(-90 12 12)"
        className="transition-[stroke-dashoffset] duration-300"
      />
    </svg>
  );
}
