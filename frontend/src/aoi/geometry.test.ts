import { describe, expect, it } from "vitest";
import { AoiGeometryError, bboxOf, toAoiPolygon } from "./geometry";

describe("toAoiPolygon", () => {
  it("closes rings, rounds to 7 decimals and drops repeated vertices", () => {
    const polygon = toAoiPolygon({
      type: "Polygon",
      coordinates: [[[10.123456789, 45], [10.2, 45], [10.2, 45], [10.2, 45.1], [10.1, 45.1]]],
    });
    expect(polygon.coordinates[0]).toEqual([[10.1234568, 45], [10.2, 45], [10.2, 45.1], [10.1, 45.1], [10.1234568, 45]]);
    expect(bboxOf(polygon)).toEqual([10.1, 45, 10.2, 45.1]);
  });

  it("says what the server would refuse", () => {
    expect(() => toAoiPolygon({ type: "Point", coordinates: [0, 0] })).toThrow(/polygon, not a Point/);
    expect(() => toAoiPolygon({ type: "Polygon", coordinates: [[[0, 0], [1, 1], [0, 0]]] })).toThrow(AoiGeometryError);
    expect(() => toAoiPolygon({ type: "Polygon", coordinates: [[[170, 0], [-170, 0], [-170, 1], [170, 0]]] })).toThrow(/antimeridian/);
    expect(() => toAoiPolygon({ type: "Polygon", coordinates: [[[0, 95], [1, 0], [1, 1], [0, 95]]] })).toThrow(/range/);
  });
});
