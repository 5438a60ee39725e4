import { describe, expect, it } from "vitest";
import type { ImageryPublic } from "../api/types";
import { bandTileUrl, combinationBands, imageryTileJson, indexExpression, MASK_COLORMAP, resultTileJson, styleQuery, tileAt } from "./tiles";

const s2 = { id: "abc", bands: ["blue", "green", "red", "nir", "swir16", "swir22"], band_info: { dtype: "uint16" } } as unknown as ImageryPublic;
const rgb = { id: "rgb", bands: ["red", "green", "blue"], band_info: {} } as unknown as ImageryPublic;
const reflectance = { id: "f", bands: ["red", "green", "blue", "nir"], band_info: { dtype: "float32" } } as unknown as ImageryPublic;

function parse(url: string) {
  const u = new URL(url, "http://host");
  return { path: u.pathname, query: u.searchParams };
}

describe("band combinations", () => {
  it("pick 1-based bands by common name", () => {
    expect(combinationBands(s2, "true-color")).toEqual([3, 2, 1]);
    expect(combinationBands(s2, "false-color")).toEqual([4, 3, 2]);
    expect(combinationBands(s2, "swir")).toEqual([6, 4, 3]);
    expect(combinationBands(rgb, "false-color")).toBeUndefined();
  });

  it("build the imagery TileJSON URL with bidx, rescale and a transparent format", () => {
    const { path, query } = parse(imageryTileJson("/api/v1", s2, { kind: "combination", combination: "false-color" })!);
    expect(path).toBe("/api/v1/imagery/abc/WebMercatorQuad/tilejson.json");
    expect(query.getAll("bidx")).toEqual(["4", "3", "2"]);
    expect(query.get("rescale")).toBe("0,3000");
    expect(query.get("tile_format")).toBe("png");
    // reflectance stored as floats is stretched over 0..0.3
    expect(parse(imageryTileJson("/api/v1", reflectance, { kind: "combination", combination: "true-color" })!).query.get("rescale")).toBe("0,0.3");
    expect(imageryTileJson("/api/v1", rgb, { kind: "combination", combination: "swir" })).toBeUndefined();
  });

  it("draws an index of a scene with the server's algorithm, its value range and a colour map", () => {
    const { query } = parse(imageryTileJson("/api/v1", s2, { kind: "index", index: "ndwi", colormap: "blues" })!);
    expect(query.get("algorithm")).toBe("ndwi");
    expect(query.get("rescale")).toBe("-1,1");
    expect(query.get("colormap_name")).toBe("blues");
    expect(imageryTileJson("/api/v1", rgb, { kind: "index", index: "ndvi", colormap: "rdylgn" })).toBeUndefined();
  });

  it("builds result TileJSON URLs: an index raster, or a change mask with its own colours", () => {
    const index = parse(resultTileJson("/api/v1", "job-1", { kind: "index", index: "ndvi", colormap: "viridis" }));
    expect(index.path).toBe("/api/v1/analysis/results/job-1/WebMercatorQuad/tilejson.json");
    expect(index.query.get("algorithm")).toBeNull();
    expect(index.query.get("colormap_name")).toBe("viridis");
    const mask = parse(resultTileJson("/api/v1", "job-2", { kind: "mask" }));
    expect(JSON.parse(mask.query.get("colormap")!)).toEqual(MASK_COLORMAP);
    expect(mask.query.get("tile_format")).toBe("png");
    expect(styleQuery({ kind: "combination", combination: "true-color" })).toBeUndefined();
  });

  it("write index band math and the preview's .npy band tile URL", () => {
    expect(indexExpression(s2, "ndvi")).toBe("(b4-b3)/(b4+b3)");
    expect(indexExpression(s2, "evi")).toBe("2.5*(b4-b3)/(b4+6*b3-7.5*b1+1)");
    expect(indexExpression(rgb, "ndwi")).toBeUndefined();
    expect(bandTileUrl("/api/v1", s2, ["red", "nir"], 10, 5, 7)).toBe("/api/v1/imagery/abc/tiles/WebMercatorQuad/10/5/7.npy?bidx=3&bidx=4&tilesize=512");
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
