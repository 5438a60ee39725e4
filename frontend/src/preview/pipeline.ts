/**
 * The index preview for one band tile: decode the `.npy` tile, compute the index, colour it.
 * This is the whole client-side budget (at most 50 ms for 512 x 512; see bench/).
 */
import { DEFAULT_RAMP, colorize, summarize, type RampName, type ValueSummary } from "./colormap";
import { INDICES, computeIndex, type BandArray, type BandName, type IndexName } from "./indices";
import { bandsOf, parseNpy } from "./npy";

export interface PreviewOptions {
  index: IndexName;
  /** The band names of the tile's bands, in order (a trailing mask band may follow). */
  bandOrder: readonly BandName[];
  /** Digital numbers to reflectance: `dn * scale + offset` (EVI needs reflectance). */
  scale?: number;
  offset?: number;
  ramp?: RampName;
  range?: readonly [number, number];
}

export interface PreviewResult {
  width: number;
  height: number;
  values: Float32Array;
  rgba: Uint8ClampedArray;
  summary: ValueSummary;
}

// Scratch planes reused across tiles (the preview runs on one thread, one tile at a time).
const scratch: Float32Array[] = [];

function scratchPlane(slot: number, size: number): Float32Array {
  let plane = scratch[slot];
  if (plane === undefined || plane.length !== size) scratch[slot] = plane = new Float32Array(size);
  return plane;
}

/** `band * scale + offset` in float32 (digital numbers to reflectance). */
function toReflectance(band: BandArray, scale: number, offset: number, out: Float32Array): Float32Array {
  for (let i = 0; i < band.length; i++) out[i] = band[i]! * scale + offset;
  return out;
}

/** NaN wherever the mask band is 0 (titiler's mask: 0 = nodata, 255 = valid). */
function applyMask(values: Float32Array, mask: BandArray): void {
  for (let i = 0; i < values.length; i++) if (mask[i] === 0) values[i] = NaN;
}

/** Compute and colour the preview of one `.npy` band tile. */
export function previewTile(buffer: ArrayBuffer | Uint8Array, options: PreviewOptions): PreviewResult {
  const npy = parseNpy(buffer);
  const planes = bandsOf(npy);
  const [, height, width] = npy.shape as [number, number, number];
  const { index, bandOrder, scale = 1, offset = 0 } = options;
  if (planes.length < bandOrder.length) {
    throw new Error(`the tile has ${planes.length} bands; expected ${bandOrder.join(", ")}`);
  }
  const mask = planes.length > bandOrder.length ? planes[bandOrder.length] : undefined;
  const needed = new Set(INDICES[index].bands);
  const bands: Partial<Record<BandName, BandArray>> = {};
  const unscaled = scale === 1 && offset === 0;
  bandOrder.forEach((name, i) => {
    if (!needed.has(name)) return;
    const plane = planes[i]!;
    bands[name] = unscaled ? plane : toReflectance(plane, scale, offset, scratchPlane(i, plane.length));
  });
  const values = computeIndex(index, bands);
  if (mask !== undefined) applyMask(values, mask);
  const ramp = options.ramp ?? DEFAULT_RAMP[index] ?? "rdylgn";
  const rgba = colorize(values, ramp, options.range ?? INDICES[index].valueRange);
  return { width, height, values, rgba, summary: summarize(values) };
}
