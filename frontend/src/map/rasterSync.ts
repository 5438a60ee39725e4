/**
 * Keep MapLibre's raster sources and layers in step with the layer panel: one source and one
 * layer per tiled TerraScan layer, with its visibility, opacity and order. Idempotent, so it
 * runs after every change and after every basemap (style) switch.
 */
import type { Map as MapLibreMap, RasterSourceSpecification } from "maplibre-gl";
import { drawingOrder, type MapLayer } from "../layers/layerStore";

const PREFIX = "terrascan-raster-";

export function syncRasterLayers(map: MapLibreMap, layers: readonly MapLayer[]): void {
  const wanted = drawingOrder(layers).filter((l) => l.tiles);
  const wantedIds = new Set(wanted.map((l) => PREFIX + l.id));
  for (const layer of map.getStyle().layers ?? []) {
    if (layer.id.startsWith(PREFIX) && !wantedIds.has(layer.id)) {
      map.removeLayer(layer.id);
      if (map.getSource(layer.id)) map.removeSource(layer.id);
    }
  }
  for (const layer of wanted) {
    const id = PREFIX + layer.id;
    const source = map.getSource(id) as { tiles?: string[] } | undefined;
    if (source && source.tiles?.[0] !== layer.tiles) {
      map.removeLayer(id);
      map.removeSource(id);
    }
    if (!map.getSource(id)) {
      const spec: RasterSourceSpecification = { type: "raster", tiles: [layer.tiles!], tileSize: 256 };
      if (layer.bounds) spec.bounds = [...layer.bounds];
      map.addSource(id, spec);
    }
    if (!map.getLayer(id)) map.addLayer({ id, type: "raster", source: id, paint: { "raster-fade-duration": 0 } });
    map.setPaintProperty(id, "raster-opacity", layer.opacity);
    map.setLayoutProperty(id, "visibility", layer.visible ? "visible" : "none");
    map.moveLayer(id); // to the top, in drawing order: the last moved ends up uppermost
  }
}
