/**
 * The default basemap: a plain style that needs no internet. Sea-coloured background, country
 * shapes from Natural Earth 1:110m (public domain, bundled through the `world-atlas` package
 * and loaded from this server), and a 10-degree graticule generated here. No tiles, glyphs or
 * sprites are fetched from anywhere.
 */
import type { FeatureCollection, Position } from "geojson";
import type { StyleSpecification } from "maplibre-gl";
import type { GeometryCollection, Topology } from "topojson-specification";
import { graticule } from "./graticule";

export const OFFLINE_COLORS = {
  sea: "#dce8f0",
  land: "#f4f1ea",
  border: "#b8b1a3",
  graticule: "#b4c6d4",
} as const;

export const COUNTRIES_SOURCE = "terrascan-countries";

const EMPTY: FeatureCollection = { type: "FeatureCollection", features: [] };

export function offlineStyle(countries: FeatureCollection = EMPTY): StyleSpecification {
  return {
    version: 8,
    name: "TerraScan offline",
    sources: {
      [COUNTRIES_SOURCE]: { type: "geojson", data: countries, attribution: "Natural Earth" },
      "terrascan-graticule": { type: "geojson", data: graticule() },
    },
    layers: [
      { id: "background", type: "background", paint: { "background-color": OFFLINE_COLORS.sea } },
      {
        id: "graticule",
        type: "line",
        source: "terrascan-graticule",
        paint: {
          "line-color": OFFLINE_COLORS.graticule,
          "line-width": ["case", ["get", "major"], 1.2, 0.6],
          "line-dasharray": [3, 3],
        },
      },
      { id: "land", type: "fill", source: COUNTRIES_SOURCE, paint: { "fill-color": OFFLINE_COLORS.land } },
      {
        id: "borders",
        type: "line",
        source: COUNTRIES_SOURCE,
        paint: { "line-color": OFFLINE_COLORS.border, "line-width": ["interpolate", ["linear"], ["zoom"], 1, 0.4, 6, 1.2] },
      },
    ],
  };
}

/**
 * Make each ring's longitudes continuous where it crosses the antimeridian (Russia, Fiji...):
 * a jump of more than 180 degrees between neighbours becomes a step past +-180, which MapLibre
 * draws on the next world copy, instead of a stripe across the whole map.
 */
function unwrapRing(ring: Position[]): Position[] {
  const out: Position[] = [];
  let previous: number | undefined;
  for (const [lon, lat] of ring) {
    let x = lon!;
    if (previous !== undefined) {
      while (x - previous > 180) x -= 360;
      while (x - previous < -180) x += 360;
    }
    out.push([x, lat!]);
    previous = x;
  }
  return out;
}

export function unwrapAntimeridian(fc: FeatureCollection): FeatureCollection {
  const polygon = (rings: Position[][]) => rings.map(unwrapRing);
  return {
    ...fc,
    features: fc.features.map((f) => {
      const g = f.geometry;
      if (g?.type === "Polygon") return { ...f, geometry: { ...g, coordinates: polygon(g.coordinates) } };
      if (g?.type === "MultiPolygon") return { ...f, geometry: { ...g, coordinates: g.coordinates.map(polygon) } };
      return f;
    }),
  };
}

/** Country shapes as GeoJSON, from the bundled TopoJSON (loaded on demand, ~100 kB). */
export async function loadCountries(fetchFn: typeof fetch = fetch): Promise<FeatureCollection> {
  const [{ feature }, { default: url }] = await Promise.all([
    import("topojson-client"),
    import("world-atlas/countries-110m.json?url"),
  ]);
  const response = await fetchFn(url);
  if (!response.ok) throw new Error(`country outlines: HTTP ${response.status}`);
  const topology = (await response.json()) as Topology<{ countries: GeometryCollection }>;
  return unwrapAntimeridian(feature(topology, topology.objects.countries) as FeatureCollection);
}
