/**
 * Tile URLs for imagery and analysis results, in titiler's route shapes under the catalog id
 * (`/imagery/{id}/tiles/{tileMatrixSetId}/{z}/{x}/{y}@{scale}x.{format}`, ARCHITECTURE.md §4):
 * band combinations pick bands with `bidx` (1-based, from the record's band names), indices use
 * a band-math `expression` with a colour map. Provisional until the tile routes land.
 */
import { INDICES, type BandName, type IndexName } from "../preview/indices";
import type { ImageryPublic } from "../api/types";

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

export function tilesPath(kind: "imagery" | "results", id: string): string {
  const root = kind === "imagery" ? "/imagery" : "/analysis/results";
  return `${root}/${encodeURIComponent(id)}/tiles/WebMercatorQuad/{z}/{x}/{y}`;
}

/** Display range for reflectance stored as digital numbers (scale 1e-4) or as 0..1 floats. */
export function rescaleFor(imagery: Pick<ImageryPublic, "band_info">): string {
  const scale = Number((imagery.band_info as { scale?: unknown }).scale ?? 1e-4);
  return scale < 0.5 ? "0,3000" : "0,0.3";
}

export function combinationTileUrl(baseUrl: string, imagery: ImageryPublic, combination: Combination): string | undefined {
  const bidx = combinationBands(imagery, combination);
  if (!bidx) return undefined;
  const query = new URLSearchParams();
  bidx.forEach((b) => query.append("bidx", String(b)));
  query.set("rescale", rescaleFor(imagery));
  return `${baseUrl}${tilesPath("imagery", imagery.id)}@1x.png?${query.toString()}`;
}

/** titiler band math for an index, `(b4-b3)/(b4+b3)` style, or undefined when a band lacks. */
export function indexExpression(imagery: Bands, index: IndexName): string | undefined {
  const b = INDICES[index].bands.map((name) => bandIndex(imagery, name));
  if (b.some((i) => i === undefined)) return undefined;
  const [x, y, z] = b.map((i) => `b${i}`);
  return index === "evi" ? `2.5*(${x}-${y})/(${x}+6*${y}-7.5*${z}+1)` : `(${x}-${y})/(${x}+${y})`;
}

export function indexTileUrl(baseUrl: string, imagery: ImageryPublic, index: IndexName, colormap: string): string | undefined {
  const expression = indexExpression(imagery, index);
  if (!expression) return undefined;
  const [low, high] = INDICES[index].valueRange;
  const query = new URLSearchParams({ expression, rescale: `${low},${high}`, colormap_name: colormap });
  return `${baseUrl}${tilesPath("imagery", imagery.id)}@1x.png?${query.toString()}`;
}

/** The `.npy` band tile the browser preview computes from (512 px: `@2x`). */
export function bandTileUrl(baseUrl: string, imagery: ImageryPublic, bands: readonly BandName[], z: number, x: number, y: number): string | undefined {
  const bidx = bands.map((b) => bandIndex(imagery, b));
  if (bidx.some((i) => i === undefined)) return undefined;
  const query = new URLSearchParams();
  bidx.forEach((b) => query.append("bidx", String(b)));
  const path = tilesPath("imagery", imagery.id).replace("{z}", String(z)).replace("{x}", String(x)).replace("{y}", String(y));
  return `${baseUrl}${path}@2x.npy?${query.toString()}`;
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
