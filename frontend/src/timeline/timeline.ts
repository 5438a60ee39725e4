/**
 * The timeline: which days the layers (and search footprints) cover, and what the map shows
 * for a chosen window of days. Layers without a date (areas, results of no scene) always show.
 */
import type { Feature, FeatureCollection } from "geojson";
import type { MapLayer } from "../layers/layerStore";

/** Inclusive window of days, `YYYY-MM-DD`. */
export interface TimeWindow {
  from: string;
  to: string;
}

export const dayOf = (time: string | null | undefined): string | null => (time && /^\d{4}-\d{2}-\d{2}/.test(time) ? time.slice(0, 10) : null);

function featureDay(feature: Feature): string | null {
  const props = (feature.properties ?? {}) as { acquired_at?: string | null; datetime?: string | null };
  return dayOf(props.acquired_at ?? props.datetime ?? null);
}

/** The distinct days of the layers and of their dated features, sorted. */
export function timelineDays(layers: readonly MapLayer[]): string[] {
  const days = new Set<string>();
  for (const layer of layers) {
    const day = dayOf(layer.time);
    if (day) days.add(day);
    for (const feature of layer.features?.features ?? []) {
      const d = featureDay(feature);
      if (d) days.add(d);
    }
  }
  return [...days].sort();
}

export function inWindow(time: string | null | undefined, window: TimeWindow | null): boolean {
  const day = dayOf(time);
  if (!window || !day) return true;
  return day >= window.from && day <= window.to;
}

/** The layers as the map draws them for a window: dated layers outside it hidden, dated
 * features outside it left out. The panel's own visibility flags are not changed. */
export function applyTimeline(layers: readonly MapLayer[], window: TimeWindow | null): MapLayer[] {
  if (!window) return [...layers];
  return layers.map((layer) => {
    let next = layer;
    if (layer.visible && !inWindow(layer.time, window)) next = { ...next, visible: false };
    if (layer.features) {
      const kept = layer.features.features.filter((f) => inWindow(featureDay(f), window));
      if (kept.length !== layer.features.features.length) next = { ...next, features: { ...layer.features, features: kept } as FeatureCollection };
    }
    return next;
  });
}

/** The day index under a pointer at `x` on a slider whose first day is at `left` and last day
 * `width` further on, clamped to the days. */
export function dayIndexAt(x: number, left: number, width: number, count: number): number {
  if (count < 2 || width <= 0) return 0;
  return Math.min(count - 1, Math.max(0, Math.round(((x - left) / width) * (count - 1))));
}

/** Which handle a press at day `index` takes: the nearer one; when both are as near (or on the
 * same day), the one on the press's side, so a press can always move either handle away. */
export function nearerHandle(index: number, from: number, to: number): "from" | "to" {
  const toFrom = Math.abs(index - from);
  const toTo = Math.abs(index - to);
  if (toFrom !== toTo) return toFrom < toTo ? "from" : "to";
  return index <= from ? "from" : "to";
}
