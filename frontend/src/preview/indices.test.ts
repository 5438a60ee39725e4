/**
 * The browser's indices against the server's: `test-vectors/indices.json` holds inputs and the
 * float32 results of `terrascan.core.indices`, written by `scripts/make-vectors.py`.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { INDICES, computeIndex, evi, isIndexName, ndvi, type BandName, type IndexName } from "./indices";

interface VectorCase {
  name: string;
  dtype: "float32" | "uint16";
  bands: Record<string, (number | null)[]>;
  expected: Record<string, (number | null)[]>;
}
interface Vectors {
  indices: Record<string, string[]>;
  cases: VectorCase[];
}

const vectors = JSON.parse(
  readFileSync(new URL("../../test-vectors/indices.json", import.meta.url), "utf8"),
) as Vectors;

function typed(values: (number | null)[], dtype: VectorCase["dtype"]): Float32Array | Uint16Array {
  const numbers = values.map((v) => (v === null ? NaN : v));
  return dtype === "uint16" ? Uint16Array.from(numbers) : Float32Array.from(numbers);
}

function bandsOf(c: VectorCase): Partial<Record<BandName, Float32Array | Uint16Array>> {
  return Object.fromEntries(Object.entries(c.bands).map(([b, v]) => [b, typed(v, c.dtype)]));
}

const names = Object.keys(INDICES) as IndexName[];

describe("shared test vectors from the Python core", () => {
  it("cover every index with the same bands as the server", () => {
    expect(Object.keys(vectors.indices).sort()).toEqual([...names].sort());
    for (const name of names) expect(vectors.indices[name]).toEqual(INDICES[name].bands);
  });

  for (const c of vectors.cases) {
    for (const name of names) {
      it(`${name} on ${c.name} (${c.dtype}) matches within 1e-6, NaN where the server has NaN`, () => {
        const actual = computeIndex(name, bandsOf(c));
        const expected = c.expected[name]!;
        expect(actual).toBeInstanceOf(Float32Array);
        expect(actual.length).toBe(expected.length);
        let worst = 0;
        expected.forEach((want, i) => {
          const got = actual[i]!;
          if (want === null) {
            expect(Number.isNaN(got), `${name}[${i}] should be NaN, got ${got}`).toBe(true);
          } else {
            // Absolute 1e-6 on the usual [-1, 1] range; relative beyond it (EVI near a
            // singular denominator reaches 1e5).
            worst = Math.max(worst, Math.abs(got - want) / Math.max(1, Math.abs(want)));
          }
        });
        expect(worst).toBeLessThanOrEqual(1e-6);
      });

      it(`${name} on ${c.name} is bit-identical to the server's float32`, () => {
        const actual = computeIndex(name, bandsOf(c));
        const expected = Float32Array.from(c.expected[name]!.map((v) => (v === null ? NaN : v)));
        const differ = [...actual].filter((v, i) => !Object.is(v, expected[i]) && !(v === 0 && expected[i] === 0));
        expect(differ).toEqual([]);
      });
    }
  }
});

describe("computeIndex", () => {
  it("names the missing bands", () => {
    expect(() => computeIndex("evi", { nir: [0.5], red: [0.1] })).toThrow(/missing blue/);
  });

  it("refuses bands of different lengths and a wrong-sized out", () => {
    expect(() => ndvi([1, 2], [1])).toThrow(RangeError);
    expect(() => ndvi([1, 2], [1, 2], new Float32Array(3))).toThrow(RangeError);
  });

  it("accepts plain numbers and float64 input, rounding them to float32 first", () => {
    const third = 1 / 3;
    expect(ndvi([third], [0])[0]).toBe(1);
    const asFloat64 = evi(Float64Array.of(0.5, 0.3), Float64Array.of(0.1, 0.2), Float64Array.of(0.05, 0.1));
    const asFloat32 = evi(Float32Array.of(0.5, 0.3), Float32Array.of(0.1, 0.2), Float32Array.of(0.05, 0.1));
    expect(Array.from(asFloat64)).toEqual(Array.from(asFloat32));
  });

  it("knows its index names", () => {
    expect(isIndexName("nbr")).toBe(true);
    expect(isIndexName("toString")).toBe(false);
  });
});

describe("a 512 x 512 tile (performance sanity, no timing asserted)", () => {
  const size = 512 * 512;
  const nir = new Uint16Array(size);
  const red = new Uint16Array(size);
  const blue = new Uint16Array(size);
  for (let i = 0; i < size; i++) {
    nir[i] = 3000 + (i % 512);
    red[i] = 1000 + ((i >> 9) % 512);
    blue[i] = 500;
  }

  it("writes into a preallocated output without allocating a new one", () => {
    const out = new Float32Array(size);
    for (const name of names) {
      const result = computeIndex(name, { nir, red, blue, green: red, swir16: red, swir22: red }, out);
      expect(result).toBe(out);
    }
  });

  it("fills every pixel", () => {
    const result = computeIndex("ndvi", { nir, red });
    expect(result.length).toBe(size);
    expect(result.every((v) => v > 0 && v < 1)).toBe(true);
  });
});
