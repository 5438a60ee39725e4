/**
 * Tile URLs for imagery and analysis results, in titiler's route shapes under the catalog id
 * (`{prefix}/{tileMatrixSetId}/tilejson.json`, `{prefix}/tiles/{tileMatrixSetId}/{z}/{x}/{y}.{format}`,
 * see src/terrascan/api/routes/tiles.py): band combinations pick bands with `bidx` (1-based,
 * from the record's band names), indices use the server's `algorithm=` (core's formulas) with
 * `rescale` and `colormap_name`, change masks a custom `colormap`. MapLibre reads the TileJSON,
 * which carries the parameters on to the tile URLs.
 */
import { INDICES, type BandName, type IndexName } from "../preview/indices";
import type { ImageryPublic } from "../api/types";
import type { RampName } from "../preview/colormap";

export type Combination = "true-color" | "false-color" | "swir";

export const COMBINATIONS: Readonly<Record<Combination, { label: string; bands: readonly (BandName | readonly BandName[])[] }>> = {
  "true-color": { label: "True colour (red, green, blue)", bands: ["red", "green", "blue"] },
  "false-color": { label: "False colour (NIR, red, green)", bands: [["nir", "nir08"], "red", "green"] },
  swir: { label: "SWIR (SWIR 2.2, NIR, red)", bands: ["swir22", ["nir08", "nir"], "red"] },
};

type Bands = Pick<ImageryPublic, "bands">;

/** 1-based band index of the first of `names` the record has, or undefined. */
export function bandIndex(imagery: Bands, names: BandName | readonly BandName[]): number | undefined {
  for (const name of typeof names === "string" ? [names] : names) {
    const i = imagery.bands.indexOf(name);
    if (i !== -1) return i + 1;
  }
  return undefined;
}

/** The `bidx` values for a combination, or undefined when the record lacks a band. */
export function combinationBands(imagery: Bands, combination: Combination): number[] | undefined {
  const indexes = COMBINATIONS[combination].bands.map((b) => bandIndex(imagery, b));
  return indexes.every((i): i is number => i !== undefined) ? indexes : undefined;
}

export type TileKind = "imagery" | "results";

function root(kind: TileKind, id: string): string {
  return `${kind === "imagery" ? "/imagery" : "/analysis/results"}/${encodeURIComponent(id)}`;
}

/** titiler's XYZ tile route under a catalog id (`.{format}` is appended by the caller). */
export function tilesPath(kind: TileKind, id: string): string {
  return `${root(kind, id)}/tiles/WebMercatorQuad/{z}/{x}/{y}`;
}

/** The TileJSON document of a raster, for MapLibre's `url` source option. */
export function tileJsonUrl(baseUrl: string, kind: TileKind, id: string, query: URLSearchParams): string {
  const q = new URLSearchParams(query);
  if (!q.has("tile_format")) q.set("tile_format", "png"); // transparent outside the data
  return `${baseUrl}${root(kind, id)}/WebMercatorQuad/tilejson.json?${q.toString()}`;
}

/** Display range for reflectance stored as digital numbers (scale 1e-4) or as 0..1 floats. */
export function rescaleFor(imagery: Pick<ImageryPublic, "band_info">): string {
  const info = imagery.band_info as { scale?: unknown; dtype?: unknown };
  const scale = Number(info.scale ?? (typeof info.dtype === "string" && info.dtype.startsWith("float") ? 1 : 1e-4));
  return scale < 0.5 ? "0,3000" : "0,0.3";
}

/** How a raster layer is drawn: a band combination, an index with a colour map, a change mask. */
export type RasterStyle =
  | { kind: "combination"; combination: Combination }
  | { kind: "index"; index: IndexName; colormap: RampName }
  | { kind: "mask" };

/** The change mask's colours: changed pixels yellow (seen on false colour's reds and on the
 * index ramps), unchanged ones transparent. */
export const MASK_COLORMAP = { "0": [0, 0, 0, 0], "1": [250, 204, 21, 255] } as const;

/** Query parameters of the tile routes for a style (undefined when the raster lacks a band). */
export function styleQuery(style: RasterStyle, imagery?: Pick<ImageryPublic, "bands" | "band_info">): URLSearchParams | undefined {
  const query = new URLSearchParams();
  if (style.kind === "combination") {
    if (!imagery) return undefined;
    const bidx = combinationBands(imagery, style.combination);
    if (!bidx) return undefined;
    bidx.forEach((b) => query.append("bidx", String(b)));
    query.set("rescale", rescaleFor(imagery));
  } else if (style.kind === "index") {
    if (imagery) {
      // On a scene: the server computes the index (titiler `algorithm=`, core's formulas).
      if (INDICES[style.index].bands.some((b) => bandIndex(imagery, b) === undefined)) return undefined;
      query.set("algorithm", style.index);
    }
    const [low, high] = INDICES[style.index].valueRange;
    query.set("rescale", `${low},${high}`);
    query.set("colormap_name", style.colormap);
  } else {
    query.set("colormap", JSON.stringify(MASK_COLORMAP));
  }
  return query;
}

/** TileJSON URL of an imagery record drawn in a style. */
export function imageryTileJson(baseUrl: string, imagery: Pick<ImageryPublic, "id" | "bands" | "band_info">, style: RasterStyle): string | undefined {
  const query = styleQuery(style, imagery);
  return query ? tileJsonUrl(baseUrl, "imagery", imagery.id, query) : undefined;
}

/** TileJSON URL of an analysis result (an index raster or a change mask). */
export function resultTileJson(baseUrl: string, jobId: string, style: RasterStyle): string {
  return tileJsonUrl(baseUrl, "results", jobId, styleQuery(style)!);
}

/** titiler band math for an index, `(b4-b3)/(b4+b3)` style, or undefined when a band lacks. */
export function indexExpression(imagery: Bands, index: IndexName): string | undefined {
  const b = INDICES[index].bands.map((name) => bandIndex(imagery, name));
  if (b.some((i) => i === undefined)) return undefined;
  const [x, y, z] = b.map((i) => `b${i}`);
  return index === "evi" ? `2.5*(${x}-${y})/(${x}+6*${y}-7.5*${z}+1)` : `(${x}-${y})/(${x}+${y})`;
}

/** The `.npy` band tile (512 px) the browser preview computes from, relative to the API root. */
export function bandTileUrl(baseUrl: string, imagery: ImageryPublic, bands: readonly BandName[], z: number, x: number, y: number): string | undefined {
  const bidx = bands.map((b) => bandIndex(imagery, b));
  if (bidx.some((i) => i === undefined)) return undefined;
  const query = new URLSearchParams();
  bidx.forEach((b) => query.append("bidx", String(b)));
  query.set("tilesize", "512");
  const path = tilesPath("imagery", imagery.id).replace("{z}", String(z)).replace("{x}", String(x)).replace("{y}", String(y));
  return `${baseUrl}${path}.npy?${query.toString()}`;
}

/** The Web Mercator tile holding a point, and that tile's bounds `[w, s, e, n]`. */
export function tileAt(lon: number, lat: number, z: number): { x: number; y: number; bounds: [number, number, number, number] } {
  const n = 2 ** z;
  const x = Math.min(n - 1, Math.max(0, Math.floor(((lon + 180) / 360) * n)));
  const rad = (Math.max(-85.0511, Math.min(85.0511, lat)) * Math.PI) / 180;
  const y = Math.min(n - 1, Math.max(0, Math.floor(((1 - Math.log(Math.tan(rad) + 1 / Math.cos(rad)) / Math.PI) / 2) * n)));
  const lonOf = (tx: number) => (tx / n) * 360 - 180;
  const latOf = (ty: number) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * ty) / n))) * 180) / Math.PI;
  return { x, y, bounds: [lonOf(x), latOf(y + 1), lonOf(x + 1), latOf(y)] };
}
