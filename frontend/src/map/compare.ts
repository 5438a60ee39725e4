/**
 * Before/after comparison of two layers: a swipe (the right layer on a second map clipped at a
 * divider) or a synchronised side-by-side view (two maps, one camera).
 */
import type { MapLayer } from "../layers/layerStore";

export type CompareMode = "off" | "swipe" | "side";

export interface CompareState {
  mode: CompareMode;
  left: string | null;
  right: string | null;
  /** The swipe divider, 0..1 across the map. */
  position: number;
}

export const NO_COMPARE: CompareState = { mode: "off", left: null, right: null, position: 0.5 };

/** What each map draws: the main map everything but the right layer (the left one shown),
 * the second map only the right layer. */
export function compareLayers(layers: readonly MapLayer[], state: CompareState): { main: MapLayer[]; second: MapLayer[] } {
  if (state.mode === "off" || !state.right) return { main: [...layers], second: [] };
  const right = layers.find((l) => l.id === state.right);
  const main = layers.filter((l) => l.id !== state.right).map((l) => (l.id === state.left ? { ...l, visible: true } : l));
  return { main, second: right ? [{ ...right, visible: true }] : [] };
}

export const clampPosition = (value: number): number => Math.min(0.98, Math.max(0.02, value));
