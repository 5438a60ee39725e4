/** A graticule (lines of latitude and longitude) as GeoJSON, generated locally. */
import type { FeatureCollection, LineString } from "geojson";

export interface GraticuleOptions {
  /** Degrees between lines. */
  step?: number;
  /** Web Mercator's latitude limit. */
  maxLatitude?: number;
  /** Degrees between the vertices of a parallel (so it follows the globe projection too). */
  resolution?: number;
}

export interface GraticuleProperties {
  kind: "meridian" | "parallel";
  value: number;
  /** The equator and the prime meridian. */
  major: boolean;
}

export function graticule(options: GraticuleOptions = {}): FeatureCollection<LineString, GraticuleProperties> {
  const { step = 10, maxLatitude = 85, resolution = 2 } = options;
  const features: FeatureCollection<LineString, GraticuleProperties>["features"] = [];
  for (let lon = -180; lon <= 180; lon += step) {
    const coordinates: [number, number][] = [];
    for (let lat = -maxLatitude; lat <= maxLatitude; lat += resolution) coordinates.push([lon, lat]);
    if (coordinates.at(-1)![1] !== maxLatitude) coordinates.push([lon, maxLatitude]);
    features.push({ type: "Feature", properties: { kind: "meridian", value: lon, major: lon === 0 }, geometry: { type: "LineString", coordinates } });
  }
  for (let lat = -Math.floor(maxLatitude / step) * step; lat <= maxLatitude; lat += step) {
    const coordinates: [number, number][] = [];
    for (let lon = -180; lon <= 180; lon += resolution) coordinates.push([lon, lat]);
    features.push({ type: "Feature", properties: { kind: "parallel", value: lat, major: lat === 0 }, geometry: { type: "LineString", coordinates } });
  }
  return { type: "FeatureCollection", features };
}
