/**
 * Keep MapLibre's raster sources and layers in step with the layer panel: one source and one
 * layer per tiled TerraScan layer (a TileJSON `url` or an XYZ template), with its visibility,
 * opacity and order. Idempotent, so it runs after every change and after every basemap (style)
 * switch.
 */
import type { Map as MapLibreMap, RasterSourceSpecification } from "maplibre-gl";
import { drawingOrder, type MapLayer } from "../layers/layerStore";

const PREFIX = "terrascan-raster-";

export const isTiled = (layer: MapLayer): boolean => Boolean(layer.tilejson ?? layer.tiles);

/** The source options for a tiled layer: TileJSON (512 px tiles, as the server writes them)
 * or an XYZ template (256 px). */
export function rasterSpec(layer: MapLayer): RasterSourceSpecification {
  if (layer.tilejson) return { type: "raster", url: layer.tilejson, tileSize: 512 };
  const spec: RasterSourceSpecification = { type: "raster", tiles: [layer.tiles!], tileSize: 256 };
  if (layer.bounds) spec.bounds = [...layer.bounds];
  return spec;
}

export function syncRasterLayers(map: MapLibreMap, layers: readonly MapLayer[]): void {
  const wanted = drawingOrder(layers).filter(isTiled);
  const wantedIds = new Set(wanted.map((l) => PREFIX + l.id));
  for (const layer of map.getStyle().layers ?? []) {
    if (layer.id.startsWith(PREFIX) && !wantedIds.has(layer.id)) {
      map.removeLayer(layer.id);
      if (map.getSource(layer.id)) map.removeSource(layer.id);
    }
  }
  for (const layer of wanted) {
    const id = PREFIX + layer.id;
    const source = map.getSource(id) as { tiles?: string[]; url?: string } | undefined;
    const current = source ? (source.url ?? source.tiles?.[0]) : undefined;
    if (source && current !== (layer.tilejson ?? layer.tiles)) {
      if (map.getLayer(id)) map.removeLayer(id);
      map.removeSource(id);
    }
    if (!map.getSource(id)) map.addSource(id, rasterSpec(layer));
    if (!map.getLayer(id)) map.addLayer({ id, type: "raster", source: id, paint: { "raster-fade-duration": 0, "raster-resampling": "nearest" } });
    map.setPaintProperty(id, "raster-opacity", layer.opacity);
    map.setLayoutProperty(id, "visibility", layer.visible ? "visible" : "none");
    map.moveLayer(id); // to the top, in drawing order: the last moved ends up uppermost
  }
}
