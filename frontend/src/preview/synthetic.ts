/**
 * A synthetic Sentinel-2-like band tile (uint16 digital numbers, reflectance x 10 000) for
 * trying the index preview with no imagery: fields of vegetation, a lake, bare ground and a
 * built-up block, so every index shows structure. Deterministic; clearly labelled in the UI.
 */
import { encodeNpy } from "./npy";
import type { BandName } from "./indices";

export const SYNTHETIC_BANDS: readonly BandName[] = ["blue", "green", "red", "nir", "swir16", "swir22"];

// Typical reflectance (x 10 000) per cover: blue, green, red, nir, swir16, swir22.
const COVERS = {
  vegetation: [300, 600, 350, 3800, 2000, 900],
  water: [700, 800, 500, 200, 100, 60],
  bare: [1200, 1600, 2000, 2500, 3200, 2800],
  built: [1100, 1200, 1300, 1500, 2300, 2100],
} as const;

export function syntheticTile(size = 512): Uint8Array {
  const plane = size * size;
  const data = new Uint16Array(SYNTHETIC_BANDS.length * plane);
  for (let row = 0; row < size; row++) {
    for (let col = 0; col < size; col++) {
      const u = col / size;
      const v = row / size;
      const lake = (u - 0.3) ** 2 + (v - 0.65) ** 2 < 0.03;
      const town = u > 0.62 && u < 0.85 && v > 0.15 && v < 0.4;
      const field = Math.sin(u * 18) * Math.cos(v * 14) > 0.1;
      const cover = lake ? COVERS.water : town ? COVERS.built : field ? COVERS.vegetation : COVERS.bare;
      const texture = 0.9 + 0.2 * (((row * 7919 + col * 104729) % 97) / 97);
      for (let b = 0; b < SYNTHETIC_BANDS.length; b++) data[b * plane + row * size + col] = Math.round(cover[b]! * texture);
    }
  }
  return encodeNpy("<u2", [SYNTHETIC_BANDS.length, size, size], data);
}
