import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { colorize, cssGradient, lookupTable, summarize } from "./colormap";
import { ndvi } from "./indices";
import { parseNpy } from "./npy";
import { previewTile } from "./pipeline";
import { makeNpy } from "./testing";

const tile = () => new Uint8Array(readFileSync(new URL("../../test-vectors/tile-u2.npy", import.meta.url)));

describe("colorize", () => {
  it("maps the range onto the ramp and NaN to transparent", () => {
    const rgba = colorize(Float32Array.of(-1, 1, NaN, 5), "rdylgn", [-1, 1]);
    const table = lookupTable("rdylgn");
    expect(Array.from(rgba.slice(0, 4))).toEqual([...table.slice(0, 3), 255]);
    expect(Array.from(rgba.slice(4, 8))).toEqual([...table.slice(255 * 4, 255 * 4 + 3), 255]);
    expect(rgba[11]).toBe(0);
    expect(Array.from(rgba.slice(12, 16))).toEqual(Array.from(rgba.slice(4, 8)));
  });

  it("describes a legend", () => {
    expect(cssGradient("blues")).toMatch(/^linear-gradient\(to right, #f7fbff 0%, .* #08306b 100%\)$/);
  });

  it("summarises the valid values", () => {
    expect(summarize(Float32Array.of(NaN, 1, 3))).toEqual({ valid: 2, min: 1, max: 3, mean: 2 });
    expect(summarize(Float32Array.of(NaN)).valid).toBe(0);
  });
});

describe("previewTile", () => {
  it("computes the index from the tile's bands in the order given", () => {
    const npy = parseNpy(tile());
    const [red, nir] = [npy.data.subarray(0, 20), npy.data.subarray(20, 40)];
    const result = previewTile(tile(), { index: "ndvi", bandOrder: ["red", "nir", "green"] });
    expect([result.width, result.height]).toEqual([5, 4]);
    expect(Array.from(result.values)).toEqual(Array.from(ndvi(nir, red)));
    expect(result.rgba.length).toBe(4 * 20);
    expect(result.summary).toMatchObject({ valid: 20, max: 1 });
  });

  it("takes a band beyond the named ones as titiler's mask and scales to reflectance", () => {
    const planes = Uint16Array.from([3000, 3000, 3000, 1000, 1000, 1000, 255, 0, 255]);
    const result = previewTile(makeNpy("<u2", [3, 1, 3], planes), {
      index: "ndvi",
      bandOrder: ["nir", "red"],
      scale: 1e-4,
    });
    expect(result.values[0]).toBeCloseTo(0.5, 6);
    expect(Number.isNaN(result.values[1])).toBe(true);
    expect(result.summary.valid).toBe(2);
    expect(result.rgba[7]).toBe(0);
  });

  it("says which bands a tile lacks", () => {
    expect(() => previewTile(tile(), { index: "evi", bandOrder: ["nir", "red"] })).toThrow(/missing blue/);
    expect(() => previewTile(tile(), { index: "ndvi", bandOrder: ["red", "nir", "green", "blue"] })).toThrow(/3 bands/);
  });
});
