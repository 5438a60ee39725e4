/**
 * The layer panel's state: what TerraScan draws over the basemap, top-most first. A pure
 * reducer, so the panel, the map sync and the tests share one definition of each operation.
 */
import type { FeatureCollection } from "geojson";
import type { RampName } from "../preview/colormap";
import type { ImageryPublic } from "../api/types";
import { imageryTileJson, resultTileJson, type RasterStyle, type TileKind } from "../imagery/tiles";

export type LayerKind = "imagery" | "quicklook" | "index" | "result" | "footprints" | "aois" | "preview";

export interface Legend {
  label: string;
  ramp: RampName;
  range: readonly [number, number];
}

export interface MapLayer {
  id: string;
  title: string;
  kind: LayerKind;
  visible: boolean;
  /** 0..1 */
  opacity: number;
  /** Raster tiles: an XYZ URL template (`{z}/{x}/{y}`), fetched with the session's token. */
  tiles?: string;
  /** Raster tiles described by a TileJSON document (MapLibre's source `url`). */
  tilejson?: string;
  /** What a tiled raster is (so its style can change): an imagery record or a result. */
  raster?: RasterSource;
  /** Where the raster has data: `[west, south, east, north]`. */
  bounds?: readonly [number, number, number, number];
  /** Vector layers: GeoJSON drawn by deck.gl. */
  features?: FeatureCollection;
  /** Bitmap layers (the index preview): RGBA pixels and where they go. */
  image?: { width: number; height: number; rgba: Uint8ClampedArray };
  /** Bitmap layers from an image (a scene's quicklook thumbnail stretched over its bounds). */
  bitmap?: ImageBitmap;
  legend?: Legend;
  /** When this layer's data was acquired (for the timeline filter), ISO 8601. */
  time?: string | null;
}

export interface RasterSource {
  baseUrl: string;
  kind: TileKind;
  id: string;
  style: RasterStyle;
  /** The record's bands (imagery only), to pick band numbers by name. */
  imagery?: Pick<ImageryPublic, "id" | "bands" | "band_info">;
}

/** The TileJSON URL of a raster source in its style (undefined when it lacks a band). */
export function rasterTileJson(source: RasterSource): string | undefined {
  return source.kind === "imagery" && source.imagery
    ? imageryTileJson(source.baseUrl, source.imagery, source.style)
    : resultTileJson(source.baseUrl, source.id, source.style);
}

export type LayerAction =
  | { type: "add"; layer: MapLayer }
  | { type: "remove"; id: string }
  | { type: "toggle"; id: string }
  | { type: "opacity"; id: string; opacity: number }
  | { type: "move"; id: string; by: -1 | 1 }
  | { type: "update"; id: string; patch: Partial<Omit<MapLayer, "id">> }
  | { type: "style"; id: string; style: RasterStyle; legend?: Legend; title?: string };

const clamp = (value: number) => Math.min(1, Math.max(0, value));

/** Add (or replace, keeping its place), remove, show/hide, fade and reorder layers. */
export function layersReducer(layers: readonly MapLayer[], action: LayerAction): MapLayer[] {
  switch (action.type) {
    case "add": {
      const layer = { ...action.layer, opacity: clamp(action.layer.opacity) };
      const at = layers.findIndex((l) => l.id === layer.id);
      return at === -1 ? [layer, ...layers] : layers.map((l, i) => (i === at ? layer : l));
    }
    case "remove":
      return layers.filter((l) => l.id !== action.id);
    case "toggle":
      return layers.map((l) => (l.id === action.id ? { ...l, visible: !l.visible } : l));
    case "opacity":
      return layers.map((l) => (l.id === action.id ? { ...l, opacity: clamp(action.opacity) } : l));
    case "update":
      return layers.map((l) => (l.id === action.id ? { ...l, ...action.patch } : l));
    case "style":
      return layers.map((l) => {
        if (l.id !== action.id || !l.raster) return l;
        const raster = { ...l.raster, style: action.style };
        const tilejson = rasterTileJson(raster);
        if (!tilejson) return l;
        const next: MapLayer = { ...l, raster, tilejson, title: action.title ?? l.title };
        if (action.legend) next.legend = action.legend;
        else delete next.legend;
        return next;
      });
    case "move": {
      const from = layers.findIndex((l) => l.id === action.id);
      const to = from + action.by;
      if (from === -1 || to < 0 || to >= layers.length) return [...layers];
      const next = [...layers];
      [next[from], next[to]] = [next[to]!, next[from]!];
      return next;
    }
  }
}

/** Drawing order, bottom first (the panel lists top-most first). */
export function drawingOrder(layers: readonly MapLayer[]): MapLayer[] {
  return [...layers].reverse();
}
