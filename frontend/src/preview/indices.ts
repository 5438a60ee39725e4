/**
 * Spectral indices computed in the browser from raw band arrays, for the index preview.
 *
 * Every function evaluates in float32 in the same order as the server's
 * `terrascan.core.indices` (numpy and numba paths alike), so results match it bit for bit on
 * the shared test vectors: each input is rounded to float32 first, each arithmetic step is
 * rounded to float32 with `Math.fround` (a double-precision +, -, * or / of two float32 values
 * rounded once to float32 equals the float32 operation), and the output is a `Float32Array`.
 * NaN marks no data: where an input is NaN or the denominator is zero.
 */

/** STAC `eo` common band names, the vocabulary every layer of TerraScan uses. */
export const BAND_NAMES = [
  "coastal",
  "blue",
  "green",
  "red",
  "rededge1",
  "rededge2",
  "rededge3",
  "nir",
  "nir08",
  "nir09",
  "cirrus",
  "swir16",
  "swir22",
] as const;
export type BandName = (typeof BAND_NAMES)[number];

export type IndexName = "ndvi" | "ndwi" | "ndbi" | "evi" | "nbr";

/** Any array of band values: typed arrays as decoded from a tile, or plain numbers. */
export type BandArray =
  | Float32Array
  | Float64Array
  | Uint8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array
  | ArrayLike<number>;

export interface IndexDefinition {
  readonly name: IndexName;
  readonly longName: string;
  /** Required bands, in the order `compute` passes them to the formula. */
  readonly bands: readonly BandName[];
  readonly formula: string;
  readonly reference: string;
  /** The usual range for display (colour-map rescaling), not a clip applied to results. */
  readonly valueRange: readonly [number, number];
}

const f32 = Math.fround;

function checkedLength(arrays: readonly ArrayLike<number>[], out?: Float32Array): number {
  const n = arrays[0]?.length ?? 0;
  for (const array of arrays) {
    if (array.length !== n) {
      throw new RangeError(`band arrays differ in length: ${n} and ${array.length}`);
    }
  }
  if (out !== undefined && out.length !== n) {
    throw new RangeError(`out has ${out.length} elements; the bands have ${n}`);
  }
  return n;
}

/** `(a - b) / (a + b)` in float32; NaN where `a + b == 0` or an input is NaN. */
export function normalizedDifference(a: BandArray, b: BandArray, out?: Float32Array): Float32Array {
  const n = checkedLength([a, b], out);
  const result = out ?? new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = f32(a[i]!);
    const y = f32(b[i]!);
    const sum = f32(x + y);
    // Storing into a Float32Array rounds the quotient to float32.
    result[i] = sum === 0 ? NaN : f32(x - y) / sum;
  }
  return result;
}

/** NDVI `(NIR - Red) / (NIR + Red)` (Rouse et al. 1974). */
export const ndvi = (nir: BandArray, red: BandArray, out?: Float32Array): Float32Array =>
  normalizedDifference(nir, red, out);

/** NDWI `(Green - NIR) / (Green + NIR)` (McFeeters 1996). */
export const ndwi = (green: BandArray, nir: BandArray, out?: Float32Array): Float32Array =>
  normalizedDifference(green, nir, out);

/** NDBI `(SWIR1.6 - NIR) / (SWIR1.6 + NIR)` (Zha et al. 2003). */
export const ndbi = (swir16: BandArray, nir: BandArray, out?: Float32Array): Float32Array =>
  normalizedDifference(swir16, nir, out);

/** NBR `(NIR - SWIR2.2) / (NIR + SWIR2.2)` (Key & Benson 2006). */
export const nbr = (nir: BandArray, swir22: BandArray, out?: Float32Array): Float32Array =>
  normalizedDifference(nir, swir22, out);

/**
 * EVI `2.5 (NIR - Red) / (NIR + 6 Red - 7.5 Blue + 1)` on reflectance (Huete et al. 2002);
 * NaN where the denominator is zero. Evaluated as `((n + 6r) - 7.5b) + 1`, like the server.
 */
export function evi(nir: BandArray, red: BandArray, blue: BandArray, out?: Float32Array): Float32Array {
  const n = checkedLength([nir, red, blue], out);
  const result = out ?? new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const x = f32(nir[i]!);
    const r = f32(red[i]!);
    const b = f32(blue[i]!);
    const den = f32(f32(f32(x + f32(6 * r)) - f32(7.5 * b)) + 1);
    result[i] = den === 0 ? NaN : f32(2.5 * f32(x - r)) / den;
  }
  return result;
}

type Kernel = (bands: readonly BandArray[], out?: Float32Array) => Float32Array;

/** Each index's formula, taking its bands in the order of `IndexDefinition.bands`. */
const KERNELS: Readonly<Record<IndexName, Kernel>> = {
  ndvi: ([nir, red], out) => ndvi(nir!, red!, out),
  ndwi: ([green, nir], out) => ndwi(green!, nir!, out),
  ndbi: ([swir16, nir], out) => ndbi(swir16!, nir!, out),
  nbr: ([nir, swir22], out) => nbr(nir!, swir22!, out),
  evi: ([nir, red, blue], out) => evi(nir!, red!, blue!, out),
};

export const INDICES: Readonly<Record<IndexName, IndexDefinition>> = {
  ndvi: {
    name: "ndvi",
    longName: "Normalized Difference Vegetation Index",
    bands: ["nir", "red"],
    formula: "(NIR − Red) / (NIR + Red)",
    reference: "Rouse et al. 1974",
    valueRange: [-1, 1],
  },
  ndwi: {
    name: "ndwi",
    longName: "Normalized Difference Water Index",
    bands: ["green", "nir"],
    formula: "(Green − NIR) / (Green + NIR)",
    reference: "McFeeters 1996",
    valueRange: [-1, 1],
  },
  ndbi: {
    name: "ndbi",
    longName: "Normalized Difference Built-up Index",
    bands: ["swir16", "nir"],
    formula: "(SWIR1.6 − NIR) / (SWIR1.6 + NIR)",
    reference: "Zha et al. 2003",
    valueRange: [-1, 1],
  },
  nbr: {
    name: "nbr",
    longName: "Normalized Burn Ratio",
    bands: ["nir", "swir22"],
    formula: "(NIR − SWIR2.2) / (NIR + SWIR2.2)",
    reference: "Key & Benson 2006",
    valueRange: [-1, 1],
  },
  evi: {
    name: "evi",
    longName: "Enhanced Vegetation Index",
    bands: ["nir", "red", "blue"],
    formula: "2.5 (NIR − Red) / (NIR + 6 Red − 7.5 Blue + 1)",
    reference: "Huete et al. 2002",
    valueRange: [-1, 1],
  },
};

export function isIndexName(value: string): value is IndexName {
  return Object.prototype.hasOwnProperty.call(INDICES, value);
}

/** Compute index `name` from a mapping of band name to array (extra bands are ignored). */
export function computeIndex(
  name: IndexName,
  bands: Partial<Record<BandName, BandArray>>,
  out?: Float32Array,
): Float32Array {
  const definition = INDICES[name];
  const missing = definition.bands.filter((band) => bands[band] === undefined);
  if (missing.length > 0) {
    throw new Error(`index ${name} needs bands ${definition.bands.join(", ")}; missing ${missing.join(", ")}`);
  }
  const args = definition.bands.map((band) => bands[band] as BandArray);
  return KERNELS[name](args, out);
}
