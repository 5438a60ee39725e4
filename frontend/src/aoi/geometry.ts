/**
 * Drawn shapes to the polygons the AOI endpoint accepts (see the server's
 * `api/schemas/geojson.py`): longitude/latitude within range, closed rings of at least four
 * positions, at most 10 000 vertices, no edge spanning 180 degrees of longitude. Checked here
 * first so the user hears about a problem while still drawing, not after a round trip.
 */
import type { Geometry, Polygon, Position } from "geojson";

export const MAX_VERTICES = 10_000;
/** 7 decimals: about a centimetre, well below any satellite pixel. */
const PRECISION = 1e7;

export class AoiGeometryError extends Error {}

const round = (v: number) => Math.round(v * PRECISION) / PRECISION;

function cleanRing(ring: readonly Position[]): Position[] {
  const out: Position[] = [];
  for (const position of ring) {
    const [lon, lat] = position as [number, number];
    if (!Number.isFinite(lon) || !Number.isFinite(lat)) throw new AoiGeometryError("a vertex is not a number");
    if (lon < -180 || lon > 180 || lat < -90 || lat > 90) throw new AoiGeometryError("a vertex is outside longitude/latitude range");
    const p: Position = [round(lon), round(lat)];
    const last = out.at(-1);
    if (!last || last[0] !== p[0] || last[1] !== p[1]) out.push(p);
  }
  const [first, last] = [out[0], out.at(-1)];
  if (first && last && (first[0] !== last[0] || first[1] !== last[1])) out.push([first[0]!, first[1]!]);
  if (out.length < 4) throw new AoiGeometryError("an area needs at least three distinct corners");
  for (let i = 1; i < out.length; i++) {
    if (Math.abs(out[i]![0]! - out[i - 1]![0]!) >= 180) {
      throw new AoiGeometryError("an edge crosses the antimeridian; draw the area on one side of it");
    }
  }
  return out;
}

/** A drawn geometry as an AOI polygon, or an `AoiGeometryError` saying what is wrong. */
export function toAoiPolygon(geometry: Geometry): Polygon {
  if (geometry.type !== "Polygon") throw new AoiGeometryError(`an AOI is a polygon, not a ${geometry.type}`);
  const rings = geometry.coordinates.map(cleanRing);
  const vertices = rings.reduce((n, ring) => n + ring.length, 0);
  if (vertices > MAX_VERTICES) throw new AoiGeometryError(`the area has ${vertices} vertices; at most ${MAX_VERTICES} are allowed`);
  return { type: "Polygon", coordinates: rings };
}

/** `[west, south, east, north]` of a polygon. */
export function bboxOf(polygon: Polygon): [number, number, number, number] {
  let [w, s, e, n] = [Infinity, Infinity, -Infinity, -Infinity];
  for (const [lon, lat] of polygon.coordinates[0] ?? []) {
    w = Math.min(w, lon!);
    e = Math.max(e, lon!);
    s = Math.min(s, lat!);
    n = Math.max(n, lat!);
  }
  return [w, s, e, n];
}
