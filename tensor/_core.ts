// Private helpers shared by the op families: wrapping kernel results, turning numbers
// into tensors, and the checks every op starts with.

import { type Backend, getBackend } from "./backend.ts";
import { type DType, isFloatDType } from "./dtype.ts";
import type { Shape } from "./shape.ts";
import { describeTensor } from "./format.ts";
import { Storage, Tensor } from "./tensor.ts";

/** A tensor, or a plain number / boolean that ops treat as a scalar constant. */
export type TensorLike = Tensor | number | boolean;

/** Wraps a kernel's result buffer (contiguous, row-major) in a new tensor. */
export function fromKernel(backend: Backend, data: unknown, shape: Shape, dtype: DType): Tensor {
  let size = 1;
  for (const d of shape) size *= d;
  return new Tensor(new Storage(backend, data, dtype, size), shape, dtype);
}

/** A new view of `x`'s storage (no copy). */
export function viewOf(
  x: Tensor,
  shape: Shape,
  strides: readonly number[],
  offset: number = x.offset,
): Tensor {
  return new Tensor(x.storage, shape, x.dtype, strides, offset);
}

/** A 0-d tensor holding `value`, on `backend`. */
export function scalarOn(backend: Backend, value: number, dtype: DType): Tensor {
  const data = backend.scalar?.(value, dtype) ?? backend.fill(1, value, dtype);
  return fromKernel(backend, data, [], dtype);
}

/**
 * Turns an op argument into a tensor. Plain numbers and booleans are "weakly typed", as in
 * JAX and NumPy 2: they keep the dtype of the tensor they meet (`like`) unless their kind is
 * higher (bool < integer < float). The scalar's dtype, by the tensor's:
 *
 * | scalar          | bool tensor | int32 tensor | float32 / float64 tensor |
 * | --------------- | ----------- | ------------ | ------------------------ |
 * | `true`, `false` | bool        | int32        | float32 / float64        |
 * | integer number  | int32       | int32        | float32 / float64        |
 * | other number    | float32     | float32      | float32 / float64        |
 *
 * so `add(boolTensor, 2)` counts in int32 (`[true, false] + 2` is `[3, 2]`) and
 * `mul(int32Tensor, 0.5)` in float32. Without a tensor, a number is float32.
 */
export function asTensor(x: TensorLike, like?: Tensor): Tensor {
  if (x instanceof Tensor) return x;
  const backend = like ? like.storage.backend : getBackend();
  if (typeof x === "boolean") return scalarOn(backend, x ? 1 : 0, "bool");
  if (typeof x !== "number") {
    throw new TypeError(`Expected a tensor or a number, got ${describe(x)}`);
  }
  let dtype: DType = like?.dtype ?? "float32";
  if (!isFloatDType(dtype) && !Number.isInteger(x)) dtype = "float32";
  else if (dtype === "bool") dtype = "int32";
  return scalarOn(backend, x, dtype);
}

/** Describes a value for an error message. */
export function describe(x: unknown): string {
  if (x instanceof Tensor) return describeTensor(x);
  if (Array.isArray(x)) return "an array";
  if (x === null) return "null";
  return typeof x === "object" ? "an object" : `${typeof x} ${String(x)}`;
}

/** Throws unless every tensor lives on the same backend. */
export function checkSameBackend(op: string, tensors: readonly Tensor[]): Backend {
  const backend = tensors[0].storage.backend;
  for (const t of tensors) {
    if (t.storage.backend !== backend) {
      throw new Error(
        `Cannot ${op} tensors: they live on different backends (${backend.name} vs ` +
          `${t.backend}); move one with toBackend()`,
      );
    }
  }
  return backend;
}

/** Throws unless `x` has a float dtype. */
export function checkFloat(op: string, x: Tensor): void {
  if (!isFloatDType(x.dtype)) {
    throw new TypeError(`Cannot ${op}: expected a float tensor, got ${x.dtype}`);
  }
}
