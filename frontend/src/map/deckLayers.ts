/**
 * deck.gl layers for the panel's vector and bitmap layers: search footprints, saved areas,
 * result polygons (clickable, with a popup of their properties) and the index preview.
 */
import { BitmapLayer, GeoJsonLayer } from "@deck.gl/layers";
import type { Layer, PickingInfo } from "@deck.gl/core";
import type { Feature } from "geojson";
import { drawingOrder, type LayerKind, type MapLayer } from "../layers/layerStore";

export interface PickInfo {
  x: number;
  y: number;
  title: string;
  properties: Record<string, unknown>;
}

type Rgba = [number, number, number, number];

const STYLE: Partial<Record<LayerKind, { line: Rgba; fill: Rgba; width: number }>> = {
  footprints: { line: [37, 99, 235, 255], fill: [37, 99, 235, 10], width: 1.5 },
  aois: { line: [217, 119, 6, 255], fill: [245, 158, 11, 24], width: 2 },
  result: { line: [220, 38, 38, 255], fill: [239, 68, 68, 40], width: 1 },
};

// One canvas per RGBA buffer: deck.gl uploads canvases as textures (raw arrays it may not).
const canvases = new WeakMap<Uint8ClampedArray, HTMLCanvasElement>();

function canvasOf(image: NonNullable<MapLayer["image"]>): HTMLCanvasElement {
  let canvas = canvases.get(image.rgba);
  if (!canvas) {
    canvas = document.createElement("canvas");
    canvas.width = image.width;
    canvas.height = image.height;
    canvas.getContext("2d")!.putImageData(new ImageData(new Uint8ClampedArray(image.rgba), image.width, image.height), 0, 0);
    canvases.set(image.rgba, canvas);
  }
  return canvas;
}

export function deckLayers(layers: readonly MapLayer[], onPick: (pick: PickInfo | null) => void): Layer[] {
  const out: Layer[] = [];
  for (const layer of drawingOrder(layers)) {
    if ((layer.image || layer.bitmap) && layer.bounds) {
      out.push(
        new BitmapLayer({
          id: layer.id,
          image: layer.bitmap ?? canvasOf(layer.image!),
          bounds: [...layer.bounds] as [number, number, number, number],
          opacity: layer.opacity,
          visible: layer.visible,
          textureParameters: { minFilter: "nearest", magFilter: "nearest" },
        }),
      );
    } else if (layer.features) {
      const style = STYLE[layer.kind] ?? STYLE.footprints!;
      out.push(
        new GeoJsonLayer({
          id: layer.id,
          data: layer.features,
          opacity: layer.opacity,
          visible: layer.visible,
          stroked: true,
          filled: true,
          pickable: true,
          getLineColor: style.line,
          getFillColor: style.fill,
          lineWidthUnits: "pixels",
          getLineWidth: style.width,
          onClick: (info: PickingInfo<Feature>) => {
            const feature = info.object;
            if (!feature || document.body.dataset.drawing === "true") return false;
            onPick({ x: info.x, y: info.y, title: layer.title, properties: { id: feature.id, ...(feature.properties ?? {}) } });
            return true;
          },
        }),
      );
    }
  }
  return out;
}
