/**
 * The index preview's budget: at most 50 ms for a 512 x 512 tile in the browser (issue 8).
 * `npm run bench` (vitest bench, V8 as in Chromium) prints the mean time per tile for the
 * index alone and for the whole preview (decode the .npy tile, scale to reflectance, compute,
 * colour). Figures are printed, never asserted: timings belong in benchmarks, not tests.
 */
import { bench, describe } from "vitest";
import { INDICES, computeIndex, type IndexName } from "../src/preview/indices";
import { previewTile } from "../src/preview/pipeline";
import { makeNpy } from "../src/preview/testing";

const SIZE = 512 * 512;

function dn(seed: number): Uint16Array {
  const out = new Uint16Array(SIZE);
  let x = seed;
  for (let i = 0; i < SIZE; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = 200 + (x % 6000);
  }
  return out;
}

const names = Object.keys(INDICES) as IndexName[];
const bandsDN = { blue: dn(1), green: dn(2), red: dn(3), nir: dn(4), swir16: dn(5), swir22: dn(6) };
const bandsReflectance = Object.fromEntries(
  Object.entries(bandsDN).map(([name, values]) => [name, Float32Array.from(values, (v) => v * 1e-4)]),
);
const out = new Float32Array(SIZE);

// A 4-band (blue, red, nir + titiler's mask) uint16 tile as the tile server would send it.
const stacked = new Uint16Array(4 * SIZE);
stacked.set(bandsDN.blue, 0);
stacked.set(bandsDN.red, SIZE);
stacked.set(bandsDN.nir, 2 * SIZE);
stacked.fill(255, 3 * SIZE);
const tile = makeNpy("<u2", [4, 512, 512], stacked);

describe("index on a 512 x 512 float32 reflectance tile", () => {
  for (const name of names) bench(name, () => void computeIndex(name, bandsReflectance, out));
});

describe("index on a 512 x 512 uint16 tile", () => {
  for (const name of names) bench(name, () => void computeIndex(name, bandsDN, out));
});

describe("whole preview of a 512 x 512 uint16 .npy tile (decode, mask, scale, index, colour)", () => {
  bench("ndvi", () => void previewTile(tile, { index: "ndvi", bandOrder: ["blue", "red", "nir"], scale: 1e-4 }));
  bench("evi", () => void previewTile(tile, { index: "evi", bandOrder: ["blue", "red", "nir"], scale: 1e-4 }));
});
