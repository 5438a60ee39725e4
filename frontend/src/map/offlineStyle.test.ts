import { describe, expect, it } from "vitest";
import { graticule } from "./graticule";
import { offlineStyle, unwrapAntimeridian } from "./offlineStyle";

describe("the offline style", () => {
  it("needs nothing from the network: no tile, glyph or sprite URLs", () => {
    const style = offlineStyle();
    expect(style.glyphs).toBeUndefined();
    expect(style.sprite).toBeUndefined();
    for (const source of Object.values(style.sources)) {
      expect(source.type).toBe("geojson");
      expect(typeof (source as { data: unknown }).data).toBe("object");
    }
    expect(style.layers.map((l) => l.type)).not.toContain("symbol");
    expect(style.layers[0]).toMatchObject({ id: "background", type: "background" });
  });

  it("draws a 10-degree graticule within Web Mercator's latitudes", () => {
    const lines = graticule();
    const meridians = lines.features.filter((f) => f.properties.kind === "meridian");
    const parallels = lines.features.filter((f) => f.properties.kind === "parallel");
    expect(meridians).toHaveLength(37);
    expect(parallels.map((f) => f.properties.value)).toEqual([-80, -70, -60, -50, -40, -30, -20, -10, 0, 10, 20, 30, 40, 50, 60, 70, 80]);
    expect(lines.features.filter((f) => f.properties.major)).toHaveLength(2);
    expect(Math.max(...meridians[0]!.geometry.coordinates.map((c) => c[1]!))).toBe(85);
  });

  it("keeps rings that cross the antimeridian continuous", () => {
    const fc = unwrapAntimeridian({
      type: "FeatureCollection",
      features: [
        {
          type: "Feature",
          properties: {},
          geometry: { type: "Polygon", coordinates: [[[178, 60], [-178, 60], [-178, 65], [178, 65], [178, 60]]] },
        },
      ],
    });
    const ring = (fc.features[0]!.geometry as GeoJSON.Polygon).coordinates[0]!;
    expect(ring.map((p) => p[0])).toEqual([178, 182, 182, 178, 178]);
  });
});
