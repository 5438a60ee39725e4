/** The timeline, docked at the map's top-left corner: one line with the days shown (and "All
 * dates" while filtered), into which "Dates" opens a two-handled slider over the days the
 * layers cover. The map shows only imagery (and footprints) of the days between the handles.
 * Open or closed it stays one line high, in the margin a fitted scene leaves; closed by
 * default, and whether it is open is remembered. */
import { useCallback, useEffect, useId, useMemo, useRef, useState, type PointerEvent as ReactPointerEvent } from "react";
import { useLayers } from "../app/context";
import { dayIndexAt, nearerHandle, timelineDays, type TimeWindow } from "./timeline";

const OPEN_KEY = "terrascan.timeline.open";

function loadOpen(): boolean {
  try {
    return localStorage.getItem(OPEN_KEY) === "true";
  } catch {
    return false;
  }
}

export function Timeline({ window, onChange }: { window: TimeWindow | null; onChange: (w: TimeWindow | null) => void }) {
  const { layers } = useLayers();
  const days = useMemo(() => timelineDays(layers), [layers]);
  const [open, setOpen] = useState(loadOpen);
  const sliderId = useId();
  const track = useRef<HTMLDivElement>(null);
  const inputs = useRef<{ from: HTMLInputElement | null; to: HTMLInputElement | null }>({ from: null, to: null });
  const toggle = useCallback(() => {
    setOpen((was) => {
      try {
        localStorage.setItem(OPEN_KEY, String(!was));
      } catch {
        // private mode: not remembered
      }
      return !was;
    });
  }, []);
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
  // The pointer drives the handles from the slider itself (the nearer handle follows it): two
  // range inputs stacked on one track cannot both take the pointer in every browser. The inputs
  // stay for the keyboard and assistive technology.
  const press = (event: ReactPointerEvent<HTMLDivElement>) => {
    const box = track.current?.getBoundingClientRect();
    if (!box || event.button !== 0) return;
    event.preventDefault();
    const index = (x: number) => dayIndexAt(x, box.left, box.width, days.length);
    const which = nearerHandle(index(event.clientX), from, to);
    const other = which === "from" ? to : from;
    inputs.current[which]?.focus();
    set(index(event.clientX), other);
    const slider = event.currentTarget;
    slider.setPointerCapture(event.pointerId);
    const move = (e: PointerEvent) => set(index(e.clientX), other);
    const up = () => {
      slider.removeEventListener("pointermove", move);
      slider.removeEventListener("pointerup", up);
      slider.removeEventListener("pointercancel", up);
    };
    slider.addEventListener("pointermove", move);
    slider.addEventListener("pointerup", up);
    slider.addEventListener("pointercancel", up);
  };
  const at = (i: number) => `${(i / (days.length - 1)) * 100}%`;
  return (
    <div className="timeline" data-testid="timeline" data-open={open ? "true" : "false"} data-filtered={window ? "true" : "false"} role="group" aria-label="Timeline">
      <button className="timeline-toggle" aria-expanded={open} aria-controls={sliderId} title={open ? "Hide the date slider" : "Filter the map by date"} onClick={toggle}>
        <span aria-hidden="true">{open ? "▾" : "▸"}</span> Dates
      </button>
      {open ? (
        <div className="timeline-slider" id={sliderId} title={`${days[0]} – ${days[days.length - 1]}`} onPointerDown={press}>
          <div className="timeline-track" aria-hidden="true" ref={track}>
            <div className="timeline-span" style={{ left: at(from), width: `calc(${at(to)} - ${at(from)})` }} />
            <ol className="timeline-ticks">
              {days.map((d, i) => (
                <li key={d} className={i >= from && i <= to ? "in" : "out"} style={{ left: at(i) }} />
              ))}
            </ol>
          </div>
          <input ref={(el) => void (inputs.current.from = el)} type="range" min={0} max={days.length - 1} step={1} value={from} aria-label="Timeline start" aria-valuetext={days[from]} onChange={(e) => set(Number(e.target.value), to)} />
          <input ref={(el) => void (inputs.current.to = el)} type="range" min={0} max={days.length - 1} step={1} value={to} aria-label="Timeline end" aria-valuetext={days[to]} onChange={(e) => set(from, Number(e.target.value))} />
        </div>
      ) : null}
      <strong data-testid="timeline-range">
        {days[from]} – {days[to]}
      </strong>
      <span className="timeline-count" title={`${to - from + 1} of ${days.length} dates shown`}>
        {to - from + 1}/{days.length}
      </span>
      {window ? (
        <button className="link" onClick={() => onChange(null)}>
          All dates
        </button>
      ) : null}
    </div>
  );
}
