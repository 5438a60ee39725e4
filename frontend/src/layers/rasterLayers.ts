/** Map layers for imagery records and analysis results, drawn from the tile routes. */
import type { ImageryPublic } from "../api/types";
import { COMBINATIONS, type RasterStyle } from "../imagery/tiles";
import { DEFAULT_RAMP, type RampName } from "../preview/colormap";
import { INDICES, type IndexName } from "../preview/indices";
import { rasterTileJson, type Legend, type MapLayer, type RasterSource } from "./layerStore";

export type ImageryRecord = Pick<ImageryPublic, "id" | "name" | "bands" | "band_info" | "acquired_at"> & { bbox?: number[] | null };

export function legendFor(style: RasterStyle): Legend | undefined {
  if (style.kind !== "index") return undefined;
  return { label: style.index.toUpperCase(), ramp: style.colormap, range: INDICES[style.index].valueRange };
}

export function styleLabel(style: RasterStyle): string {
  if (style.kind === "combination") return COMBINATIONS[style.combination].label.split(" (")[0]!;
  if (style.kind === "index") return style.index.toUpperCase();
  return "Change mask";
}

export function indexStyle(index: IndexName, colormap?: RampName): RasterStyle {
  return { kind: "index", index, colormap: colormap ?? DEFAULT_RAMP[index] ?? "rdylgn" };
}

function bounds(bbox: number[] | null | undefined): MapLayer["bounds"] {
  return bbox && bbox.length === 4 ? (bbox as unknown as [number, number, number, number]) : undefined;
}

/** A tile layer of an imagery record in a style; undefined when the record lacks a band. */
export function imageryLayer(baseUrl: string, imagery: ImageryRecord, style: RasterStyle): MapLayer | undefined {
  const raster: RasterSource = { baseUrl, kind: "imagery", id: imagery.id, style, imagery };
  const tilejson = rasterTileJson(raster);
  if (!tilejson) return undefined;
  const legend = legendFor(style);
  return {
    id: `imagery:${imagery.id}:${style.kind === "index" ? "index" : "bands"}`,
    title: `${imagery.name} · ${styleLabel(style)}`,
    kind: style.kind === "index" ? "index" : "imagery",
    visible: true,
    opacity: 1,
    tilejson,
    raster,
    bounds: bounds(imagery.bbox),
    time: imagery.acquired_at,
    ...(legend ? { legend } : {}),
  };
}

/** A tile layer of an analysis result: an index raster (with legend) or a change mask. */
export function resultLayer(baseUrl: string, jobId: string, title: string, style: RasterStyle, time?: string | null): MapLayer {
  const raster: RasterSource = { baseUrl, kind: "results", id: jobId, style };
  const legend = legendFor(style);
  return {
    id: `result:${jobId}`,
    title,
    kind: "result",
    visible: true,
    opacity: style.kind === "mask" ? 0.9 : 1,
    tilejson: rasterTileJson(raster)!,
    raster,
    time: time ?? null,
    ...(legend ? { legend } : {}),
  };
}
