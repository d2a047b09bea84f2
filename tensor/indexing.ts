// Indexing ops: gather and scatterAdd (primitives, each the other's adjoint), and the
// composites take, embedding and oneHot.
//
// Indices are int32. Negative indices count from the end (NumPy). Out-of-range indices
// throw on the CPU backend.

import { asTensor, checkSameBackend, fromKernel } from "./_core.ts";
import type { DType } from "./dtype.ts";
import { record } from "./recorder.ts";
import { fmtShape, normalizeAxis, shapesEqual } from "./shape.ts";
import type { Tensor } from "./tensor.ts";
import { equal } from "./binary.ts";
import { arange, zeros } from "./create.ts";
import { expand, flatten, reshape, unsqueeze } from "./movement.ts";
import { cast } from "./unary.ts";

function checkIndexTensor(op: string, index: Tensor): void {
  if (index.dtype !== "int32") {
    throw new TypeError(`Cannot ${op}: indices must be int32 (got ${index.dtype})`);
  }
}

/** Index shape must have x's rank and fit inside x on every axis but `axis`. */
function checkIndexShape(op: string, x: Tensor, index: Tensor, axis: number): void {
  const fits = index.rank === x.rank && index.shape.every((d, i) => i === axis || d <= x.shape[i]);
  if (!fits) {
    throw new Error(
      `Cannot ${op}: index of shape ${fmtShape(index.shape)} does not fit tensor of shape ` +
        `${fmtShape(x.shape)} along axis ${axis} (same rank, other axes no larger)`,
    );
  }
}

/**
 * Picks elements along an axis (PyTorch `gather`, NumPy `take_along_axis`):
 * `out[i][j][k] = x[i][index[i][j][k]][k]` for axis 1. The result has `index`'s shape.
 *
 * @param x the source tensor
 * @param index int32 indices, same rank as `x`
 * @param options `axis` (default 0)
 * @returns the gathered elements
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gather, tensor, toArray } from "@tessella/tessella";
 * const x = tensor([[10, 11, 12], [20, 21, 22]]);
 * const picked = gather(x, tensor([[2], [0]], { dtype: "int32" }), { axis: 1 });
 * assert.deepEqual(await toArray(picked), new Float32Array([12, 20]));
 * ```
 */
export function gather(x: Tensor, index: Tensor, options: { axis?: number } = {}): Tensor {
  const axis = normalizeAxis(options.axis ?? 0, x.rank, "gather");
  checkIndexTensor("gather", index);
  checkIndexShape("gather", x, index, axis);
  const backend = checkSameBackend("gather", [x, index]);
  const out = fromKernel(backend, backend.gather(x, index, axis), index.shape, x.dtype);
  // Each output element came from one source element: send its gradient back there.
  return record("gather", [x, index], out, (g) => [
    scatterAdd(zeros(x.shape, { dtype: g.dtype, backend: g.backend }), index, g, { axis }),
    null,
  ]);
}

/**
 * Adds `updates` into a copy of `x` at positions given by `index` along an axis
 * (PyTorch `scatter_add`): `out[i][index[i][j]] += updates[i][j]` for axis 1.
 * Repeated indices accumulate.
 *
 * @param x the base tensor
 * @param index int32 indices, same rank as `x`
 * @param updates values to add, shaped like `index`
 * @param options `axis` (default 0)
 * @returns the updated copy
 */
export function scatterAdd(
  x: Tensor,
  index: Tensor,
  updates: Tensor,
  options: { axis?: number } = {},
): Tensor {
  const axis = normalizeAxis(options.axis ?? 0, x.rank, "scatterAdd");
  checkIndexTensor("scatterAdd", index);
  checkIndexShape("scatterAdd", x, index, axis);
  if (!shapesEqual(index.shape, updates.shape)) {
    throw new Error(
      `Cannot scatterAdd: updates of shape ${fmtShape(updates.shape)} must match index ` +
        `shape ${fmtShape(index.shape)}`,
    );
  }
  const backend = checkSameBackend("scatterAdd", [x, index, updates]);
  const upd = cast(updates, x.dtype);
  const out = fromKernel(backend, backend.scatterAdd(x, index, upd, axis), x.shape, x.dtype);
  // x passes through unchanged; each update's gradient is the output gradient where it landed.
  return record("scatterAdd", [x, index, upd], out, (g) => [g, null, gather(g, index, { axis })]);
}

/**
 * Takes elements by index along an axis (NumPy `take`): the result's shape is
 * `x.shape[:axis] + indices.shape + x.shape[axis+1:]`. Without `axis`, `x` is flattened.
 *
 * @param x the source tensor
 * @param indices int32 indices of any shape
 * @param options `axis`
 * @returns the taken elements
 */
export function take(x: Tensor, indices: Tensor, options: { axis?: number } = {}): Tensor {
  const src = options.axis === undefined ? flatten(x) : x;
  const axis = normalizeAxis(options.axis ?? 0, src.rank, "take");
  const ids = asTensor(indices);
  checkIndexTensor("take", ids);
  // Spread the flat index list over all of src's other axes and gather once.
  const flat = reshape(ids, [ids.size]);
  const spread = src.shape.map((d, i) => (i === axis ? ids.size : d));
  const alongAxis = src.shape.map((_, i) => (i === axis ? ids.size : 1));
  const picked = gather(src, expand(reshape(flat, alongAxis), spread), { axis });
  return reshape(picked, [...src.shape.slice(0, axis), ...ids.shape, ...src.shape.slice(axis + 1)]);
}

/**
 * Looks up rows of an embedding table: `weight[ids]`.
 *
 * @param weight `[V, D]` table
 * @param ids int32 ids of any shape
 * @returns `[...ids.shape, D]`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { embedding, tensor, zeros } from "@tessella/tessella";
 * const rows = embedding(zeros([10, 4]), tensor([[1, 2, 3]], { dtype: "int32" }));
 * assert.deepEqual(rows.shape, [1, 3, 4]);
 * ```
 */
export function embedding(weight: Tensor, ids: Tensor): Tensor {
  return take(weight, ids, { axis: 0 });
}

/**
 * One-hot encoding: a new last axis of size `numClasses` that is 1 at each id, 0
 * elsewhere (ids outside `[0, numClasses)` give an all-zero row).
 *
 * @param ids int32 class ids
 * @param numClasses number of classes
 * @param options `dtype` of the result (default float32)
 * @returns `[...ids.shape, numClasses]`
 */
export function oneHot(
  ids: Tensor,
  numClasses: number,
  options: { dtype?: DType } = {},
): Tensor {
  checkIndexTensor("oneHot", ids);
  const classes = arange(numClasses, { dtype: "int32", backend: ids.backend });
  return cast(equal(unsqueeze(ids, -1), classes), options.dtype ?? "float32");
}
