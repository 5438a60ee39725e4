import { describe, expect, it } from "vitest";
import type { ImageryPublic } from "../api/types";
import { bandTileUrl, combinationBands, combinationTileUrl, indexExpression, tileAt } from "./tiles";

const s2 = { id: "abc", bands: ["blue", "green", "red", "nir", "swir16", "swir22"], band_info: { scale: 0.0001 } } as unknown as ImageryPublic;
const rgb = { id: "rgb", bands: ["red", "green", "blue"], band_info: {} } as unknown as ImageryPublic;

describe("band combinations", () => {
  it("pick 1-based bands by common name", () => {
    expect(combinationBands(s2, "true-color")).toEqual([3, 2, 1]);
    expect(combinationBands(s2, "false-color")).toEqual([4, 3, 2]);
    expect(combinationBands(s2, "swir")).toEqual([6, 4, 3]);
    expect(combinationBands(rgb, "false-color")).toBeUndefined();
  });

  it("build titiler tile URLs under the catalog id", () => {
    expect(combinationTileUrl("/api/v1", s2, "false-color")).toBe(
      "/api/v1/imagery/abc/tiles/WebMercatorQuad/{z}/{x}/{y}@1x.png?bidx=4&bidx=3&bidx=2&rescale=0%2C3000",
    );
  });

  it("write index band math and band tile URLs", () => {
    expect(indexExpression(s2, "ndvi")).toBe("(b4-b3)/(b4+b3)");
    expect(indexExpression(s2, "evi")).toBe("2.5*(b4-b3)/(b4+6*b3-7.5*b1+1)");
    expect(indexExpression(rgb, "ndwi")).toBeUndefined();
    expect(bandTileUrl("/api/v1", s2, ["red", "nir"], 10, 5, 7)).toBe("/api/v1/imagery/abc/tiles/WebMercatorQuad/10/5/7@2x.npy?bidx=3&bidx=4");
  });
});

describe("tileAt", () => {
  it("finds the Web Mercator tile of a point", () => {
    expect(tileAt(0.1, 0.1, 1)).toMatchObject({ x: 1, y: 0 });
    const { x, y, bounds } = tileAt(10.2, 45.1, 8);
    expect([x, y]).toEqual([135, 91]);
    expect(bounds[0]).toBeLessThanOrEqual(10.2);
    expect(bounds[2]).toBeGreaterThan(10.2);
    expect(bounds[1]).toBeLessThanOrEqual(45.1);
    expect(bounds[3]).toBeGreaterThan(45.1);
  });
});
