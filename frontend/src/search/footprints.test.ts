import { describe, expect, it } from "vitest";
import type { Feature, Geometry, Polygon } from "geojson";
import type { FitBoundsOptions, LngLatBoundsLike } from "maplibre-gl";
import { FIT_MAX_ZOOM, FIT_PADDING, fitToFootprints, footprintBounds, type Footprint } from "./footprints";

const box = (w: number, s: number, e: number, n: number): Polygon => ({
  type: "Polygon",
  coordinates: [
    [
      [w, s],
      [e, s],
      [e, n],
      [w, n],
      [w, s],
    ],
  ],
});
const feature = (geometry: Geometry | null, bbox?: Feature["bbox"]): Feature<Geometry | null> => ({ type: "Feature", geometry, properties: {}, ...(bbox ? { bbox } : {}) });

describe("footprintBounds", () => {
  it("is null when there is nothing to show", () => {
    expect(footprintBounds([])).toBeNull();
    expect(footprintBounds([feature(null), feature(null)])).toBeNull();
    expect(footprintBounds([feature({ type: "GeometryCollection", geometries: [] })])).toBeNull();
    expect(footprintBounds([feature({ type: "Point", coordinates: [Number.NaN, 10] })])).toBeNull();
  });

  it("is one footprint's own bounds", () => {
    // About the size of the demo scenes: a 5 km square.
    expect(footprintBounds([feature(box(9.0, 46.91, 9.0674, 46.956))])).toEqual([9.0, 46.91, 9.0674, 46.956]);
  });

  it("is the union of several footprints, overlapping or apart", () => {
    const overlapping = [feature(box(0, 0, 2, 2)), feature(box(1, -1, 3, 1))];
    expect(footprintBounds(overlapping)).toEqual([0, -1, 3, 2]);
    const apart = [feature(box(-70, -40, -60, -30)), feature(box(100, 10, 110, 20)), feature(box(5, 50, 6, 51))];
    expect(footprintBounds(apart)).toEqual([-70, -40, 110, 51]);
  });

  it("covers every geometry type, holes and members included", () => {
    const multi: Geometry = {
      type: "MultiPolygon",
      coordinates: [box(10, 10, 11, 11).coordinates, box(-5, 20, -4, 21).coordinates],
    };
    expect(footprintBounds([feature(multi)])).toEqual([-5, 10, 11, 21]);
    expect(footprintBounds([feature({ type: "Point", coordinates: [7.5, -3.25] })])).toEqual([7.5, -3.25, 7.5, -3.25]);
    expect(
      footprintBounds([
        feature({ type: "LineString", coordinates: [[1, 2], [3, -4]] }),
        feature({ type: "MultiLineString", coordinates: [[[0, 0]], [[-8, 9]]] }),
        feature({ type: "MultiPoint", coordinates: [[2, 30]] }),
      ]),
    ).toEqual([-8, -4, 3, 30]);
    const collection: Geometry = { type: "GeometryCollection", geometries: [box(0, 0, 1, 1), { type: "Point", coordinates: [40, -60] }] };
    expect(footprintBounds([feature(collection)])).toEqual([0, -60, 40, 1]);
  });

  it("falls back to a result's bbox (2D or 3D) when it has no geometry, and skips results with neither", () => {
    expect(footprintBounds([feature(null, [20, 30, 21, 31]), feature(null), feature(box(0, 0, 1, 1))])).toEqual([0, 0, 21, 31]);
    expect(footprintBounds([{ geometry: null, bbox: [20, 30, -5, 22, 32, 100] }])).toEqual([20, 30, 22, 32]);
    // The geometry wins over a (wrong) bbox.
    expect(footprintBounds([feature(box(0, 0, 1, 1), [-50, -50, 50, 50])])).toEqual([0, 0, 1, 1]);
  });

  it("ignores coordinates that are not longitudes/latitudes", () => {
    const bad: Footprint = { geometry: { type: "MultiPoint", coordinates: [[500, 0], [0, -91], [Infinity, 1], [4, 5]] } };
    expect(footprintBounds([bad, feature(box(1, 1, 2, 2))])).toEqual([1, 1, 4, 5]);
  });

  it("is antimeridian-naive: footprints either side of 180° span the world between them", () => {
    expect(footprintBounds([feature(box(178, -18, 179.9, -16)), feature(box(-179.9, -17, -178, -15))])).toEqual([-179.9, -18, 179.9, -15]);
  });
});

describe("fitToFootprints", () => {
  function recordingMap(width: number, height: number) {
    const calls: [LngLatBoundsLike, FitBoundsOptions | undefined][] = [];
    const map = {
      getContainer: () => ({ clientWidth: width, clientHeight: height }) as HTMLElement,
      fitBounds(bounds: LngLatBoundsLike, options?: FitBoundsOptions) {
        calls.push([bounds, options]);
        return map;
      },
    };
    return { map: map as unknown as Parameters<typeof fitToFootprints>[0], calls };
  }

  it("leaves the map alone when the results are empty", () => {
    const { map, calls } = recordingMap(940, 752);
    expect(fitToFootprints(map, [])).toBeNull();
    expect(fitToFootprints(map, [feature(null)])).toBeNull();
    expect(calls).toEqual([]);
  });

  it("fits the union with padding and a zoom limit", () => {
    const { map, calls } = recordingMap(940, 752);
    expect(fitToFootprints(map, [feature(box(0, 0, 2, 2)), feature(box(1, -1, 3, 1))], { duration: 0 })).toEqual([0, -1, 3, 2]);
    expect(calls).toHaveLength(1);
    const [bounds, options] = calls[0]!;
    expect(bounds).toEqual([0, -1, 3, 2]);
    expect(options).toMatchObject({ padding: FIT_PADDING, maxZoom: FIT_MAX_ZOOM, duration: 0 });
  });

  it("keeps latitudes inside Web Mercator and padding inside a small map", () => {
    const { map, calls } = recordingMap(100, 60);
    fitToFootprints(map, [feature(box(-10, -90, 10, 90))]);
    const [bounds, options] = calls[0]! as [number[], FitBoundsOptions];
    expect(bounds[0]).toBe(-10);
    expect(bounds[2]).toBe(10);
    expect(bounds[1]).toBeCloseTo(-85.051129, 6);
    expect(bounds[3]).toBeCloseTo(85.051129, 6);
    expect(options.padding).toBe(15);
  });
});
