// NumPy's .npy format, version 1.0: the magic string "\x93NUMPY", the version, a
// little-endian uint16 header length, then a Python dict literal giving the dtype, the
// order and the shape (padded with spaces and a newline so the data starts at a multiple
// of 64 bytes), then the elements in row-major (C) order.

import type { TypedArray } from "../../tensor/dtype.ts";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

const DESCR: Record<string, string> = {
  Float32Array: "<f4",
  Float64Array: "<f8",
  Int32Array: "<i4",
  Uint8Array: "|b1",
};

/**
 * Encodes an array as a .npy file (what `numpy.load` reads).
 *
 * @param values the elements, row-major: float32, float64, int32, or bool as 0/1 bytes
 * @param shape the array's shape
 * @returns the file's bytes
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeNpy, parseNpy } from "@tessella/tessella/nn";
 * const bytes = encodeNpy(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
 * assert.deepEqual(parseNpy(bytes).shape, [2, 3]);
 * ```
 */
export function encodeNpy(values: TypedArray, shape: readonly number[]): Uint8Array {
  const descr = DESCR[values.constructor.name];
  if (descr === undefined) {
    throw new TypeError(`Cannot encode .npy: unsupported array type ${values.constructor.name}`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== values.length) {
    throw new Error(
      `Cannot encode .npy: shape [${shape}] needs ${count} elements, the array has ${values.length}`,
    );
  }
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${dims}, }`;
  const unpadded = MAGIC.length + 2 + 2 + header.length + 1;
  header += " ".repeat((64 - (unpadded % 64)) % 64) + "\n";
  const head = new TextEncoder().encode(header);
  const out = new Uint8Array(MAGIC.length + 4 + head.length + values.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1; // major version
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, head.length, true);
  out.set(head, 10);
  out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), 10 + head.length);
  return out;
}

/**
 * Parses a .npy file of little-endian float32, float64, int32 or bool elements in C order.
 *
 * @param bytes the file
 * @returns the elements and the shape
 */
export function parseNpy(bytes: Uint8Array): { values: TypedArray; shape: number[] } {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new Error("Cannot parse .npy: not a NumPy file (bad magic string)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (start + headerLength > bytes.length) {
    throw new Error("Cannot parse .npy: the header runs past the end of the file");
  }
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const dims = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || dims === undefined) {
    throw new Error(`Cannot parse .npy: unreadable header ${JSON.stringify(header.trim())}`);
  }
  if (fortran === "True") throw new Error("Cannot parse .npy: Fortran order is not supported");
  const shape = dims.split(",").map((d) => d.trim()).filter((d) => d !== "").map(Number);
  const count = shape.reduce((a, b) => a * b, 1);
  const kinds: Record<string, [new (n: number) => TypedArray, number]> = {
    "<f4": [Float32Array, 4],
    "<f8": [Float64Array, 8],
    "<i4": [Int32Array, 4],
    "|b1": [Uint8Array, 1],
  };
  const kind = kinds[descr];
  if (kind === undefined) throw new Error(`Cannot parse .npy: unsupported dtype ${descr}`);
  const [Ctor, size] = kind;
  const dataStart = start + headerLength;
  if (dataStart + count * size > bytes.length) {
    throw new Error(
      `Cannot parse .npy: shape (${shape}) needs ${count * size} bytes of data, the file has ${
        bytes.length - dataStart
      }`,
    );
  }
  const values = new Ctor(count);
  new Uint8Array(values.buffer).set(bytes.subarray(dataStart, dataStart + count * size));
  return { values, shape };
}
