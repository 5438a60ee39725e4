import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { NpyFormatError, bandsOf, parseNpy } from "./npy";
import { makeNpy } from "./testing";

// Written by numpy itself (scripts/make-vectors.py): arange(60).reshape(3, 4, 5) * 100.
const fixture = (name: string) => new Uint8Array(readFileSync(new URL(`../../test-vectors/${name}`, import.meta.url)));

describe("parseNpy", () => {
  it("reads a uint16 (bands, rows, cols) tile written by numpy", () => {
    const npy = parseNpy(fixture("tile-u2.npy"));
    expect(npy.dtype).toBe("<u2");
    expect(npy.shape).toEqual([3, 4, 5]);
    expect(npy.data).toBeInstanceOf(Uint16Array);
    expect(Array.from(npy.data.slice(0, 3))).toEqual([0, 100, 200]);
    const bands = bandsOf(npy);
    expect(bands).toHaveLength(3);
    expect(bands[2]![19]).toBe(5900);
  });

  it("reads float32 and copies data that is not aligned in its buffer", () => {
    const bytes = fixture("tile-f4.npy");
    const shifted = new Uint8Array(bytes.length + 1);
    shifted.set(bytes, 1);
    const npy = parseNpy(shifted.subarray(1));
    expect(npy.data).toBeInstanceOf(Float32Array);
    expect(npy.data[1]).toBe(Math.fround(0.01));
  });

  it("matches what numpy writes, byte for byte (the test helper)", () => {
    const data = Uint16Array.from({ length: 60 }, (_, i) => i * 100);
    expect(makeNpy("<u2", [3, 4, 5], data)).toEqual(fixture("tile-u2.npy"));
  });

  it("refuses what it cannot read", () => {
    expect(() => parseNpy(new Uint8Array([1, 2, 3]))).toThrow(NpyFormatError);
    expect(() => parseNpy(fixture("tile-u2.npy").slice(0, 140))).toThrow(/truncated/);
    expect(() => parseNpy(makeNpy(">u2", [2], Uint16Array.of(1, 2)))).toThrow(/big-endian/);
    expect(() => parseNpy(makeNpy("<c8", [1], Float64Array.of(1)))).toThrow(/unsupported dtype/);
    expect(() => bandsOf(parseNpy(makeNpy("<u2", [2], Uint16Array.of(1, 2))))).toThrow(/bands, rows, cols/);
  });
});
