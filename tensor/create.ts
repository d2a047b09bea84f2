// Creating tensors: from JavaScript data, constant fills, ranges and identity matrices.

import { type Backend, getBackend } from "./backend.ts";
import { fromKernel } from "./_core.ts";
import { allocArray, checkDType, type DType, dtypeOfArray, type TypedArray } from "./dtype.ts";
import { checkShape, fmtShape, type Shape, sizeOf } from "./shape.ts";
import type { Tensor } from "./tensor.ts";

/** Nested JavaScript arrays of numbers or booleans, e.g. `[[1, 2], [3, 4]]`. */
export type NestedArray = readonly (number | boolean | NestedArray)[];

/**
 * Other typed arrays `tensor()` accepts: the small integer arrays become int32 (values
 * kept); a Uint32Array needs an explicit dtype (its values may not fit in int32).
 */
export type NumericArray =
  | Int8Array
  | Int16Array
  | Uint16Array
  | Uint32Array
  | Uint8ClampedArray;

/** Options shared by creation functions. */
export interface CreateOptions {
  /** Element type (float32 unless the data says otherwise). */
  dtype?: DType;
  /** Backend name (the current default backend when absent). */
  backend?: string;
}

/** Finds the shape of a nested array, rejecting ragged ones. */
function nestedShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let level: unknown = data;
  while (Array.isArray(level)) {
    shape.push(level.length);
    level = level[0];
  }
  return shape;
}

/** Copies a nested array into a flat array, checking it is rectangular. */
function flattenNested(data: NestedArray, shape: readonly number[], out: TypedArray): void {
  const bool = out instanceof Uint8Array;
  let at = 0;
  const visit = (node: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (typeof node !== "number" && typeof node !== "boolean") {
        throw new TypeError(
          `Cannot create tensor: ragged nested array (found ${
            Array.isArray(node) ? "an array" : typeof node
          } ` +
            `where a number was expected at depth ${depth})`,
        );
      }
      // Bool storage holds 0/1: any non-zero number, NaN included, is true (as a cast).
      out[at++] = typeof node === "boolean" ? (node ? 1 : 0) : bool ? (node !== 0 ? 1 : 0) : node;
      return;
    }
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw new TypeError(
        `Cannot create tensor: ragged nested array (expected length ${
          shape[depth]
        } at depth ${depth}, ` +
          `got ${Array.isArray(node) ? node.length : typeof node})`,
      );
    }
    for (const child of node) visit(child, depth + 1);
  };
  visit(data, 0);
}

function firstLeaf(data: NestedArray): unknown {
  let level: unknown = data;
  while (Array.isArray(level)) level = level[0];
  return level;
}

/**
 * Creates a tensor from a number, a boolean, nested arrays or a typed array.
 *
 * Numbers default to float32 (booleans to bool). Typed arrays keep their values:
 * Float32Array → float32, Float64Array → float64, and the integer arrays (Int32Array,
 * Uint8Array, Uint8ClampedArray, Int8Array, Int16Array, Uint16Array) → int32, so image
 * bytes stay 0…255. Pass `{ dtype: "bool" }` for a mask (any non-zero element is true);
 * a Uint32Array needs an explicit dtype. A scalar has shape `[]`. With a typed array,
 * `shape` defaults to `[length]`.
 *
 * Bool tensors made from host data keep a host copy on backends without a synchronous
 * read (WebGPU), so that masks drawn on the host can be read back with `toArraySync`.
 *
 * @param data the values
 * @param options `shape`, `dtype`, `backend`
 * @returns the new tensor
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensor, toArray } from "@tessella/tessella";
 * assert.deepEqual(tensor(3).shape, []);
 * assert.deepEqual(tensor([[1, 2], [3, 4]]).shape, [2, 2]);
 * const ids = tensor(new Int32Array([1, 2, 3, 4, 5, 6]), { shape: [2, 3] });
 * assert.equal(ids.dtype, "int32");
 * const bytes = tensor(new Uint8Array([0, 128, 255])); // values kept, as int32
 * assert.deepEqual(await toArray(bytes), new Int32Array([0, 128, 255]));
 * const mask = tensor(new Uint8Array([0, 2, 1]), { dtype: "bool" });
 * assert.deepEqual(await toArray(mask), new Uint8Array([0, 1, 1]));
 * ```
 */
export function tensor(
  data: number | boolean | NestedArray | TypedArray | NumericArray,
  options: CreateOptions & { shape?: readonly number[] } = {},
): Tensor {
  const backend = getBackend(options.backend);
  if (options.dtype !== undefined) checkDType(options.dtype, "create tensor");
  if (typeof data === "number" || typeof data === "boolean") {
    const dtype = options.dtype ?? (typeof data === "boolean" ? "bool" : "float32");
    const shape = options.shape ?? [];
    const flat = allocArray(dtype, sizeOf(shape));
    flat.fill(dtype === "bool" ? (Number(data) !== 0 ? 1 : 0) : Number(data));
    return fromKernel(
      backend,
      backend.upload(flat, dtype),
      checkShape(shape, "create tensor"),
      dtype,
    );
  }
  if (ArrayBuffer.isView(data)) {
    // A Uint8Array is also the storage of bool tensors, but as input its bytes are
    // numbers: only an explicit dtype makes it a mask.
    const own = data instanceof Uint8Array && options.dtype !== "bool"
      ? undefined
      : dtypeOfArray(data);
    const dtype = options.dtype ?? own ?? (data instanceof Uint32Array ? undefined : "int32");
    if (dtype === undefined) {
      throw new TypeError(
        `Cannot create tensor from a ${data.constructor.name}: pass { dtype } to convert it`,
      );
    }
    const shape = checkShape(options.shape ?? [data.length], "create tensor");
    if (sizeOf(shape) !== data.length) {
      throw new Error(
        `Cannot create tensor: shape ${fmtShape(shape)} needs ${sizeOf(shape)} elements, ` +
          `the array has ${data.length}`,
      );
    }
    let flat: TypedArray;
    if (dtype === "bool") {
      // Bool storage holds 0 or 1.
      flat = Uint8Array.from(data as ArrayLike<number>, (v) => (v !== 0 ? 1 : 0));
    } else if (own === dtype) {
      flat = data as TypedArray;
    } else {
      flat = allocArray(dtype, data.length);
      flat.set(data);
    }
    return fromHost(backend, flat, shape, dtype);
  }
  if (!Array.isArray(data)) {
    throw new TypeError(`Cannot create tensor from ${typeof data}: expected numbers or arrays`);
  }
  const shape = nestedShape(data);
  const dtype = options.dtype ?? (typeof firstLeaf(data) === "boolean" ? "bool" : "float32");
  const flat = allocArray(dtype, sizeOf(shape));
  flattenNested(data, shape, flat);
  if (options.shape !== undefined) {
    const target = checkShape(options.shape, "create tensor");
    if (sizeOf(target) !== flat.length) {
      throw new Error(
        `Cannot create tensor: shape ${fmtShape(target)} needs ${sizeOf(target)} elements, ` +
          `the data has ${flat.length}`,
      );
    }
    return fromHost(backend, flat, target, dtype);
  }
  return fromHost(backend, flat, shape, dtype);
}

/**
 * Uploads host data as a new tensor. A bool tensor on a backend without a synchronous
 * read keeps its host copy (masks are small), which `toArraySync` then reads.
 */
function fromHost(backend: Backend, flat: TypedArray, shape: Shape, dtype: DType): Tensor {
  const t = fromKernel(backend, backend.upload(flat, dtype), shape, dtype);
  if (dtype === "bool" && backend.readSync === undefined) t.storage.host = flat.slice();
  return t;
}

/**
 * A tensor of the given shape filled with `value`.
 *
 * @param shape the shape
 * @param value the fill value
 * @param options `dtype` (float32), `backend`
 * @returns the new tensor
 */
export function full(shape: readonly number[], value: number, options: CreateOptions = {}): Tensor {
  const dims = checkShape(shape, "full");
  const dtype = checkDType(options.dtype ?? "float32", "full");
  const backend = getBackend(options.backend);
  return fromKernel(backend, backend.fill(sizeOf(dims), value, dtype), dims, dtype);
}

/**
 * A tensor of zeros.
 *
 * @param shape the shape
 * @param options `dtype` (float32), `backend`
 * @returns the new tensor
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toArray, zeros } from "@tessella/tessella";
 * assert.deepEqual(await toArray(zeros([2], { dtype: "int32" })), new Int32Array([0, 0]));
 * ```
 */
export function zeros(shape: readonly number[], options: CreateOptions = {}): Tensor {
  return full(shape, 0, options);
}

/** A tensor of ones (options as `zeros`). */
export function ones(shape: readonly number[], options: CreateOptions = {}): Tensor {
  return full(shape, 1, options);
}

/** A tensor shaped like `x` (same dtype and backend unless given) filled with `value`. */
export function fullLike(x: Tensor, value: number, options: CreateOptions = {}): Tensor {
  return full(x.shape, value, {
    dtype: options.dtype ?? x.dtype,
    backend: options.backend ?? x.backend,
  });
}

/** Zeros shaped like `x`. */
export function zerosLike(x: Tensor, options: CreateOptions = {}): Tensor {
  return fullLike(x, 0, options);
}

/** Ones shaped like `x`. */
export function onesLike(x: Tensor, options: CreateOptions = {}): Tensor {
  return fullLike(x, 1, options);
}

/**
 * Evenly spaced values in `[start, stop)` (NumPy `arange`): `arange(5)` is 0 … 4,
 * `arange(2, 8, 2)` is 2, 4, 6. Options may follow the numbers. The dtype is int32 when
 * all numbers are integers, else float32.
 *
 * @param args `stop`, or `start, stop`, or `start, stop, step`; then optionally
 *   `{ dtype, backend }`
 * @returns a 1-D tensor
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { arange, toArray } from "@tessella/tessella";
 * assert.deepEqual(await toArray(arange(2, 8, 2)), new Int32Array([2, 4, 6]));
 * assert.equal(arange(3, { dtype: "float32" }).dtype, "float32");
 * ```
 */
export function arange(...args: (number | CreateOptions)[]): Tensor {
  const last = args[args.length - 1];
  const options: CreateOptions = typeof last === "object" ? last : {};
  const numbers = args.filter((a): a is number => typeof a === "number");
  if (
    numbers.length < 1 || numbers.length > 3 ||
    numbers.length + (typeof last === "object" ? 1 : 0) !== args.length
  ) {
    throw new Error(
      "Cannot arange: expected (stop), (start, stop) or (start, stop, step), then options",
    );
  }
  const [lo, hi] = numbers.length === 1 ? [0, numbers[0]] : [numbers[0], numbers[1]];
  const delta = numbers[2] ?? 1;
  if (delta === 0 || !Number.isFinite(delta)) {
    throw new Error(`Cannot arange: step must be finite and non-zero (got ${delta})`);
  }
  const integral = numbers.every(Number.isInteger);
  const dtype = options.dtype ?? (integral ? "int32" : "float32");
  const n = Math.max(0, Math.ceil((hi - lo) / delta));
  const flat = allocArray(dtype, n);
  for (let i = 0; i < n; i++) flat[i] = lo + i * delta;
  const backend = getBackend(options.backend);
  return fromKernel(backend, backend.upload(flat, dtype), [n], dtype);
}

/**
 * `num` evenly spaced values from `start` to `stop` (inclusive unless `endpoint: false`).
 *
 * @param start the first value
 * @param stop the last value
 * @param num how many values (default 50, as NumPy)
 * @param options `endpoint` (default true), `dtype` (float32), `backend`
 * @returns a 1-D tensor
 */
export function linspace(
  start: number,
  stop: number,
  num: number = 50,
  options: CreateOptions & { endpoint?: boolean } = {},
): Tensor {
  if (!Number.isInteger(num) || num < 0) {
    throw new Error(`Cannot linspace: num must be a non-negative integer (got ${num})`);
  }
  const endpoint = options.endpoint ?? true;
  const dtype = options.dtype ?? "float32";
  const divisions = endpoint ? num - 1 : num;
  const step = divisions > 0 ? (stop - start) / divisions : 0;
  const flat = allocArray(dtype, num);
  for (let i = 0; i < num; i++) flat[i] = start + i * step;
  if (endpoint && num > 1) flat[num - 1] = stop;
  const backend = getBackend(options.backend);
  return fromKernel(backend, backend.upload(flat, dtype), [num], dtype);
}

/**
 * An `n × m` matrix with ones on diagonal `k` (0: main, >0: above, <0: below).
 *
 * @param n rows
 * @param options `m` columns (default n), `k` diagonal offset, `dtype`, `backend`
 * @returns the matrix
 */
export function eye(
  n: number,
  options: CreateOptions & { m?: number; k?: number } = {},
): Tensor {
  const m = options.m ?? n;
  const k = options.k ?? 0;
  const shape = checkShape([n, m], "eye");
  const dtype = options.dtype ?? "float32";
  const flat = allocArray(dtype, n * m);
  for (let i = 0; i < n; i++) {
    const j = i + k;
    if (j >= 0 && j < m) flat[i * m + j] = 1;
  }
  const backend = getBackend(options.backend);
  return fromKernel(backend, backend.upload(flat, dtype), shape, dtype);
}
