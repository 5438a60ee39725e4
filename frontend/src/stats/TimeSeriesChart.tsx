/** A small SVG line chart of an index over time: mean per date with a ±1 std band. */
import type { TimeSeriesEntry } from "../api/contracts";
import { labelAnchor, linePath, linearScale, niceTicks, valueDomain } from "./chart";

const W = 300;
const H = 170;
const M = { left: 40, right: 10, top: 10, bottom: 34 };
/** A date label's width in the chart's units (10 characters at the 8 px tick font), with a margin. */
const DATE_LABEL_WIDTH = 50;

export function TimeSeriesChart({ series, label }: { series: readonly TimeSeriesEntry[]; label: string }) {
  const times = series.map((e) => Date.parse(e.acquired));
  const values = series.flatMap((e) => (e.mean === null ? [] : [e.mean - (e.std ?? 0), e.mean + (e.std ?? 0)]));
  const x = linearScale([Math.min(...times), Math.max(...times)], [M.left, W - M.right]);
  const y = linearScale(valueDomain(values), [H - M.bottom, M.top]);
  const ticks = niceTicks(y.domain[0], y.domain[1], 4);
  const points = series.map((e, i) => ({ x: x(times[i]!), y: e.mean === null ? null : y(e.mean) }));
  const band =
    series
      .map((e, i) => (e.mean === null ? null : `${x(times[i]!).toFixed(1)},${y(e.mean + (e.std ?? 0)).toFixed(1)}`))
      .filter(Boolean)
      .join(" ") +
    " " +
    [...series]
      .map((e, i) => (e.mean === null ? null : `${x(times[i]!).toFixed(1)},${y(e.mean - (e.std ?? 0)).toFixed(1)}`))
      .filter(Boolean)
      .reverse()
      .join(" ");
  return (
    <svg className="chart" viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${label} over time`} data-testid="timeseries-chart">
      {ticks.map((t) => (
        <g key={t}>
          <line x1={M.left} x2={W - M.right} y1={y(t)} y2={y(t)} className="grid" />
          <text x={M.left - 4} y={y(t) + 3} textAnchor="end" className="tick">
            {t}
          </text>
        </g>
      ))}
      <polygon points={band} className="band" />
      <path d={linePath(points)} className="line" />
      {series.map((e, i) =>
        e.mean === null ? null : (
          <circle key={e.imagery_id} cx={points[i]!.x} cy={points[i]!.y!} r={3.5} className="point" data-testid="chart-point">
            <title>{`${e.acquired.slice(0, 10)}: mean ${e.mean.toFixed(3)}, std ${(e.std ?? 0).toFixed(3)}, valid ${Math.round((e.valid_fraction ?? 0) * 100)} %`}</title>
          </circle>
        ),
      )}
      {series.map((e, i) => (
        <text key={`t-${e.imagery_id}`} x={points[i]!.x} y={H - M.bottom + 14} textAnchor={labelAnchor(points[i]!.x, DATE_LABEL_WIDTH, 0, W)} className="tick">
          {e.acquired.slice(0, 10)}
        </text>
      ))}
      <text x={M.left} y={H - 4} className="axis-label">
        {label} (mean ± std)
      </text>
    </svg>
  );
}
