import { dimensionTicks, niceCeil, significant, spread } from "../format";

interface DimensionChartProps {
  alpha: number[];
  beta: number[];
}

const WIDTH = 320;
const PANEL = 64;
const GAP = 22;
const LEFT = 34;
const RIGHT = 6;
const TOP = 14;

/**
 * α (scale) and β (shape) per embedding dimension as two stacked step plots sharing the x axis.
 * A step outline with a light fill stays readable whether D is 64 (visible bars) or 1024 (a dense
 * profile), and the panels' own y scales keep both parameters legible.
 */
export function DimensionChart({ alpha, beta }: DimensionChartProps) {
  const dim = Math.max(alpha.length, beta.length);
  const height = TOP + 2 * PANEL + GAP + 18;
  const plotWidth = WIDTH - LEFT - RIGHT;
  const x = (i: number) => LEFT + (i / Math.max(1, dim)) * plotWidth;
  const a = spread(alpha);
  const b = spread(beta);
  const summary = (name: string, s: ReturnType<typeof spread>) => `${name} from ${significant(s.min)} to ${significant(s.max)}, median ${significant(s.median)}`;

  return (
    <figure data-testid="dimension-chart" className="flex flex-col gap-2">
      <svg viewBox={`0 0 ${WIDTH} ${height}`} className="h-auto w-full overflow-visible" role="img" aria-label={`Per-dimension parameters over ${dim} dimensions: ${summary("α", a)}; ${summary("β", b)}.`}>
        <Panel values={alpha} top={TOP} name="α" colour="var(--alpha)" x={x} dim={dim} />
        <Panel values={beta} top={TOP + PANEL + GAP} name="β" colour="var(--beta)" x={x} dim={dim} />
        {dimensionTicks(dim).map((tick) => (
          <g key={tick} className="fill-faint text-[9px]">
            <line x1={x(tick + 0.5)} x2={x(tick + 0.5)} y1={TOP + 2 * PANEL + GAP} y2={TOP + 2 * PANEL + GAP + 3} stroke="var(--line-strong)" />
            <text x={x(tick + 0.5)} y={height - 3} textAnchor="middle" className="tabular-nums">
              {tick}
            </text>
          </g>
        ))}
      </svg>
      <figcaption className="grid grid-cols-[auto_1fr] gap-x-2 text-[11px] leading-snug text-muted tabular-nums">
        <span className="font-medium" style={{ color: "var(--alpha)" }}>α scale</span>
        <span>{`min ${significant(a.min)} · median ${significant(a.median)} · max ${significant(a.max)}`}</span>
        <span className="font-medium" style={{ color: "var(--beta)" }}>β shape</span>
        <span>{`min ${significant(b.min)} · median ${significant(b.median)} · max ${significant(b.max)}`}</span>
        <span className="col-span-2 text-faint">{`x: embedding dimension (0 … ${dim - 1})`}</span>
      </figcaption>
    </figure>
  );
}

interface PanelProps {
  values: number[];
  top: number;
  name: string;
  colour: string;
  x: (i: number) => number;
  dim: number;
}

function Panel({ values, top, name, colour, x, dim }: PanelProps) {
  const max = niceCeil(Math.max(0, ...values.filter(Number.isFinite)));
  const y = (v: number) => top + PANEL - (Math.min(max, Math.max(0, Number.isFinite(v) ? v : 0)) / max) * PANEL;
  const base = top + PANEL;
  // One path: across each dimension at its value, so adjacent equal values merge into plateaus.
  let outline = `M${x(0)} ${base}`;
  values.forEach((v, i) => {
    outline += `V${y(v)}H${x(i + 1)}`;
  });
  const area = `${outline}V${base}Z`;
  return (
    <g>
      <line x1={LEFT} x2={x(dim)} y1={top} y2={top} stroke="var(--line)" strokeDasharray="2 3" />
      <line x1={LEFT} x2={x(dim)} y1={base} y2={base} stroke="var(--line-strong)" />
      <text x={LEFT - 4} y={top + 3} textAnchor="end" className="fill-faint text-[9px] tabular-nums">
        {significant(max, 2)}
      </text>
      <text x={LEFT - 4} y={base + 3} textAnchor="end" className="fill-faint text-[9px] tabular-nums">
        0
      </text>
      <text x={LEFT - 4} y={top + PANEL / 2 + 4} textAnchor="end" className="text-[12px] font-semibold" fill={colour}>
        {name}
      </text>
      <path d={area} fill={colour} fillOpacity="0.18" />
      <path d={outline} fill="none" stroke={colour} strokeWidth={dim > 256 ? 0.6 : 1} strokeLinejoin="round" vectorEffect="non-scaling-stroke" />
    </g>
  );
}
