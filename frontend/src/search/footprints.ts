/**
 * Where search results are: the union of their footprints, and fitting the map to it, so that a
 * search that finds scenes shows them instead of leaving the map at the whole world.
 *
 * Antimeridian-naive: the union is a plain minimum/maximum of longitudes and latitudes, so
 * footprints on both sides of 180° give a box spanning the world between them.
 */
import type { Geometry, Position } from "geojson";
import type { FitBoundsOptions, Map as MapLibreMap } from "maplibre-gl";

/** `[west, south, east, north]` in degrees. */
export type Bounds = [west: number, south: number, east: number, north: number];

/** A search result: a GeoJSON feature, or anything with a footprint and/or a GeoJSON bbox. */
export interface Footprint {
  geometry?: Geometry | null;
  bbox?: readonly number[] | null;
}

/** Web Mercator's latitude limit: the map cannot show beyond it. */
const MAX_MERCATOR_LAT = 85.051129;
/** Close enough to read a 10 m scene, not so close that a tiny footprint fills the screen. */
export const FIT_MAX_ZOOM = 14;
export const FIT_PADDING = 40;

function* positions(geometry: Geometry): Generator<Position> {
  switch (geometry.type) {
    case "Point":
      yield geometry.coordinates;
      break;
    case "MultiPoint":
    case "LineString":
      yield* geometry.coordinates;
      break;
    case "MultiLineString":
    case "Polygon":
      for (const line of geometry.coordinates) yield* line;
      break;
    case "MultiPolygon":
      for (const polygon of geometry.coordinates) for (const ring of polygon) yield* ring;
      break;
    case "GeometryCollection":
      for (const member of geometry.geometries) yield* positions(member);
      break;
  }
}

/** The corners of a GeoJSON bbox (2D `[w, s, e, n]` or 3D `[w, s, zmin, e, n, zmax]`). */
function bboxCorners(bbox: readonly number[]): Position[] {
  if (bbox.length === 4) return [[bbox[0]!, bbox[1]!], [bbox[2]!, bbox[3]!]];
  if (bbox.length === 6) return [[bbox[0]!, bbox[1]!], [bbox[3]!, bbox[4]!]];
  return [];
}

/**
 * The union of the footprints' bounds, or `null` when there is nothing to show: no results, or
 * none with a geometry or a bbox. A result's geometry wins over its bbox; non-finite or
 * out-of-range coordinates are skipped.
 */
export function footprintBounds(features: Iterable<Footprint>): Bounds | null {
  let [w, s, e, n] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const feature of features) {
    const points = feature.geometry ? positions(feature.geometry) : feature.bbox ? bboxCorners(feature.bbox) : [];
    for (const [lon, lat] of points) {
      if (!Number.isFinite(lon) || !Number.isFinite(lat) || Math.abs(lon!) > 180 || Math.abs(lat!) > 90) continue;
      w = Math.min(w, lon!);
      e = Math.max(e, lon!);
      s = Math.min(s, lat!);
      n = Math.max(n, lat!);
    }
  }
  return w <= e && s <= n ? [w, s, e, n] : null;
}

/**
 * Fit the map to the union of the results' footprints (with padding, at most `FIT_MAX_ZOOM`);
 * leaves the map alone when there is nothing to fit. Returns the bounds fitted, or `null`.
 */
export function fitToFootprints(
  map: Pick<MapLibreMap, "fitBounds" | "getContainer">,
  features: Iterable<Footprint>,
  options: FitBoundsOptions = {},
): Bounds | null {
  const bounds = footprintBounds(features);
  if (!bounds) return null;
  const [w, s, e, n] = bounds;
  const clamp = (lat: number) => Math.max(-MAX_MERCATOR_LAT, Math.min(MAX_MERCATOR_LAT, lat));
  // Padding larger than a quarter of a small map would leave no room, and MapLibre would not move.
  const { clientWidth, clientHeight } = map.getContainer();
  const padding = Math.max(0, Math.min(FIT_PADDING, Math.floor(Math.min(clientWidth, clientHeight) / 4)));
  map.fitBounds([w, clamp(s), e, clamp(n)], { padding, maxZoom: FIT_MAX_ZOOM, duration: 600, ...options });
  return bounds;
}
