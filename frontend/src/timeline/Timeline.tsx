/** The timeline under the map: two handles over the days the layers cover; the map shows only
 * imagery (and footprints) of the days between them. */
import { useEffect, useMemo } from "react";
import { useLayers } from "../app/context";
import { timelineDays, type TimeWindow } from "./timeline";

export function Timeline({ window, onChange }: { window: TimeWindow | null; onChange: (w: TimeWindow | null) => void }) {
  const { layers } = useLayers();
  const days = useMemo(() => timelineDays(layers), [layers]);
  // Keep the window on known days; forget it when the layers' days change beneath it.
  useEffect(() => {
    if (window && (!days.includes(window.from) || !days.includes(window.to))) onChange(null);
  }, [days, window, onChange]);
  if (days.length < 2) return null;
  const from = window ? days.indexOf(window.from) : 0;
  const to = window ? days.indexOf(window.to) : days.length - 1;
  const set = (a: number, b: number) => {
    const [lo, hi] = a <= b ? [a, b] : [b, a];
    onChange(lo === 0 && hi === days.length - 1 ? null : { from: days[lo]!, to: days[hi]! });
  };
  const shown = days.slice(from, to + 1).length;
  return (
    <div className="timeline" data-testid="timeline" role="group" aria-label="Timeline">
      <span className="timeline-label">
        Timeline: <strong data-testid="timeline-range">{days[from]} – {days[to]}</strong> ({shown} of {days.length} dates)
      </span>
      <div className="timeline-sliders">
        <input type="range" min={0} max={days.length - 1} step={1} value={from} aria-label="Timeline start" onChange={(e) => set(Number(e.target.value), to)} />
        <input type="range" min={0} max={days.length - 1} step={1} value={to} aria-label="Timeline end" onChange={(e) => set(from, Number(e.target.value))} />
      </div>
      <ol className="timeline-ticks" aria-hidden="true">
        {days.map((d, i) => (
          <li key={d} className={i >= from && i <= to ? "in" : "out"} style={{ left: `${days.length === 1 ? 0 : (i / (days.length - 1)) * 100}%` }} title={d} />
        ))}
      </ol>
      {window ? (
        <button className="link" onClick={() => onChange(null)}>
          All dates
        </button>
      ) : null}
    </div>
  );
}
