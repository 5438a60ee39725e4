/**
 * A reader for NumPy's `.npy` format, the raw-array tile format of titiler (`.npy` tile
 * extension). Band tiles for the index preview arrive this way: `(bands, rows, cols)` values,
 * with titiler appending the mask as the last band.
 */

export type NpyArray = Float32Array | Float64Array | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | Int32Array;

export interface Npy {
  dtype: string;
  shape: number[];
  data: NpyArray;
}

const DTYPES: Record<string, { bytes: number; make: (buffer: ArrayBuffer, offset: number, length: number) => NpyArray }> = {
  f4: { bytes: 4, make: (b, o, n) => new Float32Array(b, o, n) },
  f8: { bytes: 8, make: (b, o, n) => new Float64Array(b, o, n) },
  u1: { bytes: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
  i1: { bytes: 1, make: (b, o, n) => new Int8Array(b, o, n) },
  u2: { bytes: 2, make: (b, o, n) => new Uint16Array(b, o, n) },
  i2: { bytes: 2, make: (b, o, n) => new Int16Array(b, o, n) },
  u4: { bytes: 4, make: (b, o, n) => new Uint32Array(b, o, n) },
  i4: { bytes: 4, make: (b, o, n) => new Int32Array(b, o, n) },
  b1: { bytes: 1, make: (b, o, n) => new Uint8Array(b, o, n) },
};

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

export class NpyFormatError extends Error {}

function header(bytes: Uint8Array): { text: string; dataOffset: number } {
  if (bytes.length < 10 || MAGIC.some((m, i) => bytes[i] !== m)) {
    throw new NpyFormatError("not a .npy file");
  }
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [lengthSize, length] = major === 1 ? [2, view.getUint16(8, true)] : [4, view.getUint32(8, true)];
  if (major < 1 || major > 3) throw new NpyFormatError(`unsupported .npy version ${major}`);
  const start = 8 + lengthSize;
  if (start + length > bytes.length) throw new NpyFormatError("truncated .npy header");
  const text = new TextDecoder(major === 3 ? "utf-8" : "latin1").decode(bytes.subarray(start, start + length));
  return { text, dataOffset: start + length };
}

/** Parse a `.npy` buffer (little-endian or byte-sized dtypes, C order). */
export function parseNpy(buffer: ArrayBuffer | Uint8Array): Npy {
  const bytes = buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer);
  const { text, dataOffset } = header(bytes);
  const descr = /'descr':\s*'([<>|=])([a-z]\d+)'/.exec(text);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(text);
  if (!descr || !shape) throw new NpyFormatError(`unreadable .npy header: ${text}`);
  if (/'fortran_order':\s*True/.test(text)) throw new NpyFormatError("Fortran-ordered arrays are not supported");
  const [, order, code] = descr;
  const type = DTYPES[code!];
  if (!type) throw new NpyFormatError(`unsupported dtype ${code}`);
  if (order === ">" && type.bytes > 1) throw new NpyFormatError("big-endian arrays are not supported");
  const dims = shape[1]!.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const count = dims.reduce((a, b) => a * b, 1);
  if (dataOffset + count * type.bytes > bytes.length) throw new NpyFormatError("truncated .npy data");
  // Typed arrays need aligned offsets; copy when the data is not aligned in this buffer.
  const absolute = bytes.byteOffset + dataOffset;
  const data =
    absolute % type.bytes === 0
      ? type.make(bytes.buffer as ArrayBuffer, absolute, count)
      : type.make(bytes.slice(dataOffset, dataOffset + count * type.bytes).buffer, 0, count);
  return { dtype: `${order}${code}`, shape: dims, data };
}

/** Split a `(bands, rows, cols)` array into one view per band. */
export function bandsOf(npy: Npy): NpyArray[] {
  if (npy.shape.length !== 3) throw new NpyFormatError(`expected (bands, rows, cols), got (${npy.shape.join(", ")})`);
  const [count, rows, cols] = npy.shape as [number, number, number];
  const size = rows * cols;
  return Array.from({ length: count }, (_, i) => npy.data.subarray(i * size, (i + 1) * size));
}

/** Encode an array as `.npy` (version 1.0, C order), byte for byte as numpy writes it. */
export function encodeNpy(descr: string, shape: readonly number[], data: ArrayBufferView): Uint8Array {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(", ");
  let text = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${dims}), }`;
  const unpadded = 10 + text.length + 1;
  text = text + " ".repeat((64 - (unpadded % 64)) % 64) + "\n";
  const out = new Uint8Array(10 + text.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, text.length, true);
  out.set(Uint8Array.from(text, (c) => c.charCodeAt(0)), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + text.length);
  return out;
}
