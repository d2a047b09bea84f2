// Reading tensor values back into JavaScript. Readback is asynchronous, because on a GPU
// it waits for queued work to finish; the CPU backend also offers a synchronous read.

import { openBackend } from "./backend.ts";
import type { TypedArray } from "./dtype.ts";
import { Storage, Tensor } from "./tensor.ts";

/** Nested arrays as returned by `toNested` (booleans for bool tensors). */
export type NestedValues = number | boolean | NestedValues[];

/**
 * The tensor's elements as a flat row-major typed array (a copy): Float32Array,
 * Float64Array, Int32Array, or Uint8Array for bool. A 0-d tensor gives length 1.
 *
 * @param x the tensor
 * @returns a promise of the elements
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensor, toArray, transpose } from "@tessella/tessella";
 * const t = transpose(tensor([[1, 2], [3, 4]]));
 * assert.deepEqual(await toArray(t), new Float32Array([1, 3, 2, 4]));
 * ```
 */
export async function toArray(x: Tensor): Promise<TypedArray> {
  return await x.storage.backend.read(x);
}

/**
 * Synchronous `toArray`, for backends that can offer it (the CPU backends), and for bool
 * tensors made from host data on any backend (`tensor(…, { dtype: "bool" })`, masks).
 *
 * @param x the tensor
 * @returns the elements
 */
export function toArraySync(x: Tensor): TypedArray {
  const backend = x.storage.backend;
  if (backend.readSync !== undefined) return backend.readSync(x);
  const host = x.storage.host;
  if (host !== undefined) {
    // Any view (transposed, sliced, broadcast) reads through its strides.
    const out = new Uint8Array(x.size);
    let at = 0;
    const visit = (axis: number, index: number): void => {
      if (axis === x.rank) {
        out[at++] = host[index];
        return;
      }
      for (let i = 0; i < x.shape[axis]; i++) visit(axis + 1, index + i * x.strides[axis]);
    };
    visit(0, x.offset);
    return out;
  }
  throw new Error(
    `Cannot read a ${backend.name} tensor synchronously: use await toArray(t) instead`,
  );
}

/** Rebuilds nested arrays from flat row-major values. */
export function nestValues(
  flat: TypedArray,
  shape: readonly number[],
  bool: boolean,
): NestedValues {
  let at = 0;
  const build = (depth: number): NestedValues => {
    if (depth === shape.length) {
      const v = flat[at++];
      return bool ? v !== 0 : v;
    }
    return Array.from({ length: shape[depth] }, () => build(depth + 1));
  };
  return build(0);
}

/**
 * The tensor's elements as nested JavaScript arrays (a number for a 0-d tensor).
 *
 * @param x the tensor
 * @returns a promise of the nested values
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensor, toNested } from "@tessella/tessella";
 * assert.deepEqual(await toNested(tensor([[1, 2], [3, 4]])), [[1, 2], [3, 4]]);
 * ```
 */
export async function toNested(x: Tensor): Promise<NestedValues> {
  return nestValues(await toArray(x), x.shape, x.dtype === "bool");
}

/**
 * The single value of a one-element tensor.
 *
 * @param x a tensor with exactly one element
 * @returns a promise of the value
 */
export async function item(x: Tensor): Promise<number> {
  if (x.size !== 1) {
    throw new Error(`Cannot item(): the tensor has ${x.size} elements, not 1`);
  }
  return (await toArray(x))[0];
}

/**
 * Copies a tensor to another backend (opening it if needed), e.g. a batch prepared on the
 * CPU to WebGPU, or a result back to the CPU.
 *
 * @param x the tensor
 * @param name the target backend: `"cpu"` or `"webgpu"`
 * @returns the copy (or `x` itself when it already lives there)
 */
export async function toBackend(x: Tensor, name: string): Promise<Tensor> {
  if (x.backend === name) return x;
  const target = await openBackend(name);
  let data = await toArray(x);
  let dtype = x.dtype;
  if (dtype === "float64" && name !== "cpu") {
    data = Float32Array.from(data); // float64 lives only on the CPU
    dtype = "float32";
  }
  const storage = new Storage(target, target.upload(data, dtype), dtype, x.size);
  // As tensor() does: a bool tensor (a mask) stays readable synchronously.
  if (dtype === "bool" && target.readSync === undefined) storage.host = data.slice();
  return new Tensor(storage, x.shape, dtype);
}
