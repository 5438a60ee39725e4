/**
 * Colour maps for index values: a 256-entry lookup table per ramp, applied to a Float32Array
 * into RGBA bytes (NaN becomes transparent), and the stops a legend shows.
 */

export type RampName = "rdylgn" | "blues" | "magma" | "brbg" | "viridis";

/** The ramps offered for index layers (titiler knows each by the same name). */
export const RAMPS: readonly RampName[] = ["rdylgn", "viridis", "blues", "magma", "brbg"];

/** Colour stops from the low to the high end of the range (ColorBrewer / matplotlib). */
const STOPS: Readonly<Record<RampName, readonly string[]>> = {
  rdylgn: ["#a50026", "#f46d43", "#fee08b", "#d9ef8b", "#66bd63", "#006837"],
  blues: ["#f7fbff", "#c6dbef", "#6baed6", "#2171b5", "#08306b"],
  magma: ["#000004", "#3b0f70", "#8c2981", "#de4968", "#fe9f6d", "#fcfdbf"],
  brbg: ["#543005", "#bf812d", "#f6e8c3", "#c7eae5", "#35978f", "#003c30"],
  viridis: ["#440154", "#414487", "#2a788e", "#22a884", "#7ad151", "#fde725"],
};

/** The ramp each index is shown with by default. */
export const DEFAULT_RAMP: Readonly<Record<string, RampName>> = {
  ndvi: "rdylgn",
  evi: "rdylgn",
  ndwi: "blues",
  ndbi: "magma",
  nbr: "brbg",
};

function parseHex(hex: string): [number, number, number] {
  const v = Number.parseInt(hex.slice(1), 16);
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

const tables = new Map<RampName, Uint8Array>();

/** A 256 x RGBA lookup table, interpolated linearly between the ramp's stops. */
export function lookupTable(ramp: RampName): Uint8Array {
  const cached = tables.get(ramp);
  if (cached) return cached;
  const stops = STOPS[ramp].map(parseHex);
  const table = new Uint8Array(256 * 4);
  for (let i = 0; i < 256; i++) {
    const position = (i / 255) * (stops.length - 1);
    const lower = Math.min(Math.floor(position), stops.length - 2);
    const t = position - lower;
    const [a, b] = [stops[lower]!, stops[lower + 1]!];
    for (let c = 0; c < 3; c++) table[i * 4 + c] = Math.round(a[c]! + (b[c]! - a[c]!) * t);
    table[i * 4 + 3] = 255;
  }
  tables.set(ramp, table);
  return table;
}

/**
 * Colour `values` into RGBA bytes: `range` maps to the ends of the ramp (values outside are
 * clamped); NaN is fully transparent.
 */
export function colorize(
  values: Float32Array,
  ramp: RampName,
  range: readonly [number, number],
  out?: Uint8ClampedArray,
): Uint8ClampedArray {
  const rgba = out ?? new Uint8ClampedArray(values.length * 4);
  if (rgba.length !== values.length * 4) throw new RangeError("out must hold 4 bytes per value");
  // One 32-bit store per pixel: the table's RGBA bytes read as words in the platform's order.
  const table = new Uint32Array(lookupTable(ramp).slice().buffer);
  const pixels = new Uint32Array(rgba.buffer, rgba.byteOffset, values.length);
  const [low, high] = range;
  const scale = high === low ? 0 : 255 / (high - low);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v !== v) {
      pixels[i] = 0;
      continue;
    }
    let k = Math.round((v - low) * scale);
    k = k < 0 ? 0 : k > 255 ? 255 : k;
    pixels[i] = table[k]!;
  }
  return rgba;
}

/** CSS `linear-gradient` stops for a legend bar. */
export function cssGradient(ramp: RampName): string {
  const stops = STOPS[ramp];
  return `linear-gradient(to right, ${stops.map((c, i) => `${c} ${((i / (stops.length - 1)) * 100).toFixed(0)}%`).join(", ")})`;
}

export interface ValueSummary {
  valid: number;
  min: number;
  max: number;
  mean: number;
}

/** Count, min, max and mean of the non-NaN values. */
export function summarize(values: Float32Array): ValueSummary {
  let valid = 0;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v !== v) continue;
    valid++;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  return valid === 0 ? { valid, min: NaN, max: NaN, mean: NaN } : { valid, min, max, mean: sum / valid };
}
