/**
 * Chromium for the journeys: Debian's package (`apt-get install chromium`), never a
 * downloaded browser. WebGL runs on SwiftShader, so the map renders headless.
 */
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";

export const SCREENSHOTS = resolve(import.meta.dirname, "screenshots");

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium", args: CHROMIUM_ARGS });
}

export function screenshotPath(name: string): string {
  mkdirSync(SCREENSHOTS, { recursive: true });
  return join(SCREENSHOTS, name);
}

export interface PixelStats {
  width: number;
  height: number;
  /** Distinct colours, each channel quantised to 16 levels. */
  distinct: number;
  /** Share of pixels within `tolerance` of each named colour. */
  share: Record<string, number>;
  /** Share of dark pixels (every channel below 90): the offline basemap has none. */
  dark: number;
  /** Standard deviation of the luminance (0..255): a flat canvas has almost none. */
  lumaStd: number;
  /** Share of pixels far (> 40 per channel) from both offline basemap colours. */
  notBasemap: number;
  /** Share of "red" pixels (red above green and blue by 40): vegetation in false colour. */
  red: number;
  /** Share of yellow-to-amber pixels (red and green high, blue low): the change mask. */
  yellow: number;
}

/** Decode a PNG in the page and count its colours: is the canvas drawn, or blank? */
export async function pixelStats(page: Page, png: Buffer, colours: Record<string, string>, tolerance = 12): Promise<PixelStats> {
  return page.evaluate(
    async ({ b64, colours, tolerance }) => {
      const blob = await (await fetch(`data:image/png;base64,${b64}`)).blob();
      const bitmap = await createImageBitmap(blob);
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const context = canvas.getContext("2d")!;
      context.drawImage(bitmap, 0, 0);
      const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
      const targets = Object.entries(colours).map(([name, hex]) => {
        const v = Number.parseInt(hex.slice(1), 16);
        return { name, rgb: [(v >> 16) & 255, (v >> 8) & 255, v & 255] };
      });
      const counts: Record<string, number> = Object.fromEntries(targets.map((t) => [t.name, 0]));
      const distinct = new Set<number>();
      const pixels = data.length / 4;
      let dark = 0;
      let sum = 0;
      let sumSq = 0;
      let notBasemap = 0;
      let red = 0;
      let yellow = 0;
      const near = (i: number, r: number, g: number, b: number) => Math.abs(data[i]! - r) <= 40 && Math.abs(data[i + 1]! - g) <= 40 && Math.abs(data[i + 2]! - b) <= 40;
      for (let i = 0; i < data.length; i += 4) {
        const luma = 0.299 * data[i]! + 0.587 * data[i + 1]! + 0.114 * data[i + 2]!;
        sum += luma;
        sumSq += luma * luma;
        if (!near(i, 0xdc, 0xe8, 0xf0) && !near(i, 0xf4, 0xf1, 0xea)) notBasemap++;
        if (data[i]! > data[i + 1]! + 40 && data[i]! > data[i + 2]! + 40) red++;
        if (data[i]! > 200 && data[i + 1]! > 130 && data[i + 2]! < 110 && data[i + 1]! - data[i + 2]! > 80) yellow++;
        if (data[i]! < 90 && data[i + 1]! < 90 && data[i + 2]! < 90) dark++;
        distinct.add(((data[i]! >> 4) << 8) | ((data[i + 1]! >> 4) << 4) | (data[i + 2]! >> 4));
        for (const t of targets) {
          if (Math.abs(data[i]! - t.rgb[0]!) <= tolerance && Math.abs(data[i + 1]! - t.rgb[1]!) <= tolerance && Math.abs(data[i + 2]! - t.rgb[2]!) <= tolerance) counts[t.name]!++;
        }
      }
      const share = Object.fromEntries(Object.entries(counts).map(([k, n]) => [k, n / pixels]));
      const mean = sum / pixels;
      const lumaStd = Math.sqrt(Math.max(0, sumSq / pixels - mean * mean));
      return { width: bitmap.width, height: bitmap.height, distinct: distinct.size, share, dark: dark / pixels, lumaStd, notBasemap: notBasemap / pixels, red: red / pixels, yellow: yellow / pixels };
    },
    { b64: png.toString("base64"), colours, tolerance },
  );
}
