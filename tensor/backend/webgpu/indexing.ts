// Indexing on WebGPU: gather and a deterministic scatterAdd (the kernels are in
// indexing_wgsl.ts), and concat and unslice, which place views into a new buffer.

import { contiguousStrides, type Shape, sizeOf } from "../../shape.ts";
import type { View } from "../../tensor.ts";
import { contiguousCopy, fill, place } from "./elementwise.ts";
import { gatherSource, SCATTER_ADD_PARAMS, scatterAddSource } from "./indexing_wgsl.ts";
import { elementwiseParams, grid, MAX_RANK } from "./params.ts";
import { checkDType, runOnViews, type Runtime } from "./runtime.ts";

/** x's entries at `index` along `axis` (an out-of-range index reads 0). */
export function gather(rt: Runtime, x: View, index: View, axis: number): GPUBuffer {
  checkDType(x.dtype);
  const n = sizeOf(index.shape);
  const out = rt.alloc(n);
  if (n === 0) return out;
  const xWithoutAxis = {
    strides: x.strides.map((s, d) => (d === axis ? 0 : s)),
    offset: x.offset,
  };
  const words = elementwiseParams(index.shape, [index, xWithoutAxis], [
    x.shape[axis],
    x.strides[axis],
  ]);
  runOnViews(
    rt,
    `gather:${x.dtype}`,
    () => gatherSource(x.dtype),
    [index, x],
    out,
    words,
    grid(n, rt.limit),
  );
  return out;
}

/** x with `updates` added at `index` along `axis`, in index order (the same bits every time). */
export function scatterAdd(
  rt: Runtime,
  x: View,
  index: View,
  updates: View,
  axis: number,
): GPUBuffer {
  checkDType(x.dtype);
  const out = contiguousCopy(rt, x);
  const n = sizeOf(x.shape);
  if (n === 0 || sizeOf(index.shape) === 0) return out;
  if (x.shape.length > MAX_RANK) {
    throw new Error(`Cannot scatterAdd on WebGPU: rank above ${MAX_RANK}`);
  }
  const source = () => scatterAddSource(x.dtype);
  runOnViews(
    rt,
    `scatterAdd:${x.dtype}`,
    source,
    [index, updates],
    out,
    SCATTER_ADD_PARAMS.pack({
      n,
      rank: x.shape.length,
      axis,
      indexOffset: index.offset,
      updatesOffset: updates.offset,
      shape: x.shape,
      indexShape: index.shape,
      indexStrides: index.strides,
      updatesStrides: updates.strides,
    }),
    grid(n, rt.limit),
  );
  return out;
}

/** The views one after another along `axis`. */
export function concat(rt: Runtime, xs: readonly View[], axis: number, outShape: Shape): GPUBuffer {
  checkDType(xs[0].dtype);
  const out = rt.alloc(sizeOf(outShape));
  const outStrides = contiguousStrides(outShape);
  let start = 0;
  for (const x of xs) {
    place(rt, x, { strides: outStrides, offset: start * outStrides[axis] }, out);
    start += x.shape[axis];
  }
  return out;
}

/** Zeros of `outShape` with x at positions start + i·step (the VJP of a strided slice). */
export function unslice(
  rt: Runtime,
  x: View,
  outShape: Shape,
  starts: readonly number[],
  steps: readonly number[],
): GPUBuffer {
  checkDType(x.dtype);
  const out = fill(rt, sizeOf(outShape), 0, x.dtype);
  const outStrides = contiguousStrides(outShape);
  let base = 0;
  for (let d = 0; d < outShape.length; d++) base += starts[d] * outStrides[d];
  place(rt, x, { strides: outStrides.map((s, d) => s * steps[d]), offset: base }, out);
  return out;
}
