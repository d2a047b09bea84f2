// The CPU backend's indexing drivers, gather and scatterAdd (see kernels.ts for what a
// driver does, and indexing_wat.ts for the kernels). An index out of range makes the
// driver return null, and the JavaScript kernel then reports it.

import { contiguousStrides, sizeOf } from "../../shape.ts";
import type { View } from "../../tensor.ts";
import type { HeapArray } from "./heap.ts";
import { address, allocate, contiguousCopy, run, walkParams } from "./kernels.ts";
import { GATHER, PARAMS_ADDRESS, SCATTER } from "./layouts.ts";
import { cpuTuning, wasmRuntime } from "./runtime.ts";
import { collapse } from "./views.ts";

/** Reads the parameter block's `bad` word at byte `offset` (an index was out of range). */
function flagged(offset: number): boolean {
  return wasmRuntime().heap.i32[(PARAMS_ADDRESS + offset) / 4] !== 0;
}

/**
 * gather (see Backend.gather) for 4-byte elements; null where the kernel cannot run, or
 * an index is out of range (the JavaScript kernel then reports it).
 */
export function gather4(x: View, index: View, axis: number): HeapArray | null {
  if (x.dtype !== "float32" && x.dtype !== "int32") return null;
  const xBase = address(x);
  const indexBase = address(index);
  if (xBase === null || indexBase === null) return null;
  const out = allocate(x.dtype, sizeOf(index.shape));
  if (out === null) return null;
  const source = x.strides.map((s, d) => (d === axis ? 0 : s));
  const nest = collapse(index.shape, [contiguousStrides(index.shape), source, index.strides], 4);
  if (nest === null) {
    wasmRuntime().heap.release(out);
    return null;
  }
  wasmRuntime().setParams(GATHER, {
    ...walkParams(nest, out.byteOffset, xBase, indexBase),
    axisStride: x.strides[axis],
    axisSize: x.shape[axis],
  });
  const size = out.length;
  run("gather", size, 64, size >= cpuTuning.minParallelElements);
  if (flagged(GATHER.bad)) {
    wasmRuntime().heap.release(out);
    return null;
  }
  return out;
}

/**
 * scatterAdd (see Backend.scatterAdd) for float32; null where the kernel cannot run, or an
 * index is out of range (the JavaScript kernel then reports it).
 */
export function scatterAddF32(
  x: View,
  index: View,
  updates: View,
  axis: number,
): HeapArray | null {
  const indexBase = address(index);
  const updatesBase = address(updates);
  if (indexBase === null || updatesBase === null || updates.dtype !== "float32") return null;
  const without = <T>(xs: readonly T[]) => xs.filter((_, d) => d !== axis);
  const outStrides = contiguousStrides(x.shape);
  const outer = collapse(
    without(index.shape),
    [without(outStrides), without(updates.strides), without(index.strides)],
    3,
  );
  if (outer === null) return null;
  const out = contiguousCopy(x);
  if (out === null) return null;
  const [o, u, i] = outer.strides;
  wasmRuntime().setParams(SCATTER, {
    out: out.byteOffset,
    updates: updatesBase,
    index: indexBase,
    n1: outer.dims[1],
    n2: outer.dims[2],
    out0: o[0],
    out1: o[1],
    out2: o[2],
    updates0: u[0],
    updates1: u[1],
    updates2: u[2],
    index0: i[0],
    index1: i[1],
    index2: i[2],
    length: index.shape[axis],
    outStep: outStrides[axis],
    updatesStep: updates.strides[axis],
    indexStep: index.strides[axis],
    axisSize: x.shape[axis],
  });
  const positions = sizeOf(without(index.shape));
  const work = sizeOf(index.shape);
  run("scatter_add", positions, 1, work >= cpuTuning.minParallelElements);
  if (flagged(SCATTER.bad)) {
    wasmRuntime().heap.release(out);
    return null;
  }
  return out;
}
