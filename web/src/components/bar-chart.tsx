/** One horizontal bar per item, its value written beside it: readable without colour, on a phone. */
export interface Bar {
  label: string;
  value: number;
  /** the value as shown (a rate as a percentage, hours, a count) */
  display: string;
  /** a second, paler bar behind the first (a p90 behind a p50) */
  behind?: number;
}

export function BarChart({ title, bars, max, unit }: { title: string; bars: Bar[]; max?: number; unit?: string }) {
  const top = max ?? Math.max(1e-9, ...bars.map((b) => Math.max(b.value, b.behind ?? 0)));
  const row = 26;
  const labelWidth = 150;
  const width = 560;
  const barSpace = width - labelWidth - 170;
  const height = Math.max(row, bars.length * row) + 8;
  const summary = bars.length ? `${title}: ${bars.map((b) => `${b.label} ${b.display}`).join('; ')}` : `${title}: no data in this period`;
  return (
    <figure class="chart-figure">
      <figcaption>
        {title}
        {unit ? <span class="muted small"> ({unit})</span> : null}
      </figcaption>
      {bars.length === 0 ? (
        <p class="muted small">No data in this period.</p>
      ) : (
        <svg class="chart" viewBox={`0 0 ${width} ${height}`} role="img" aria-label={summary}>
          {bars.map((b, i) => {
            const y = 4 + i * row;
            const w = (v: number): number => Math.max(1, (v / top) * barSpace);
            return (
              <g key={b.label}>
                <text x={labelWidth - 6} y={y + 16} text-anchor="end">
                  {b.label.length > 22 ? `${b.label.slice(0, 21)}…` : b.label}
                </text>
                {b.behind !== undefined ? <rect class="bar behind" x={labelWidth} y={y + 4} width={w(b.behind)} height={row - 10} /> : null}
                <rect class="bar" x={labelWidth} y={y + 4} width={w(b.value)} height={row - 10} />
                <text x={labelWidth + w(Math.max(b.value, b.behind ?? 0)) + 6} y={y + 16}>
                  {b.display}
                </text>
              </g>
            );
          })}
        </svg>
      )}
    </figure>
  );
}
