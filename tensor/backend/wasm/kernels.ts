// The CPU backend's WebAssembly kernel drivers: each checks that its inputs live in the
// heap and have a layout the kernel takes, writes the parameter block and runs the kernel
// on the thread pool. A driver returns null when it cannot take the case (another dtype,
// a view that does not collapse to four axes, memory exhausted), and the backend then
// runs the JavaScript kernel instead. This file: the shared helpers, elementwise ops and
// copies, sums, the row kernels and AdamW; matmul.ts and indexing.ts hold the others.

import { isDense } from "../cpu/strided.ts";
import { contiguousStrides, type Shape, sizeOf } from "../../shape.ts";
import { checkLive, type View } from "../../tensor.ts";
import type { AdamConstants, ReduceOp } from "../../backend.ts";
import type { HeapArray, HeapDType } from "./heap.ts";
import {
  ADAM,
  ELEMENTWISE,
  type ELEMENTWISE_FIELDS,
  PARAMS_ADDRESS,
  REDUCE,
  ROWS,
} from "./layouts.ts";
import { cpuTuning, wasmRuntime } from "./runtime.ts";
import { collapse, type LoopNest } from "./views.ts";

/** Byte address of a view's element [0, …, 0], or null when its storage is not in the heap. */
export function address(x: View): number | null {
  checkLive(x);
  const data = x.storage.data;
  if (!wasmRuntime().heap.owns(data)) return null;
  return data.byteOffset + x.offset * data.BYTES_PER_ELEMENT;
}

/** A new heap array, or null when the heap is full. */
export function allocate(dtype: HeapDType, length: number): HeapArray | null {
  return wasmRuntime().heap.allocate(dtype, length);
}

/** Runs a kernel on the pool (see ThreadPool.run). */
export function run(name: string, tasks: number, grain: number, parallel: boolean): void {
  const rt = wasmRuntime();
  rt.pool.run(rt.kernel(name), PARAMS_ADDRESS, tasks, grain, parallel);
}

/** A target to write elements to: an array and a (possibly strided) layout in it. */
interface Target {
  array: HeapArray;
  shape: Shape;
  strides: readonly number[];
  offset: number;
}

/**
 * Runs an elementwise kernel over `target`'s shape with inputs of the same shape (views):
 * false when the views do not collapse to four axes or an input is not in the heap.
 */
function elementwise(kernel: string, target: Target, inputs: readonly View[]): boolean {
  const pointers = inputs.map(address);
  if (pointers.some((p) => p === null)) return false;
  const nest = collapse(target.shape, [target.strides, ...inputs.map((x) => x.strides)], 4);
  if (nest === null) return false;
  const size = sizeOf(target.shape);
  const outBase = target.array.byteOffset + target.offset * target.array.BYTES_PER_ELEMENT;
  wasmRuntime().setParams(ELEMENTWISE, walkParams(nest, outBase, pointers[0]!, pointers[1] ?? 0));
  run(kernel, size, 64, size >= cpuTuning.minParallelElements);
  return true;
}

/**
 * The fields of ELEMENTWISE (which GATHER begins with) for a loop nest collapsed to four
 * axes over out, x and y (y's strides zero when there is no y).
 */
export function walkParams(
  nest: LoopNest,
  out: number,
  x: number,
  y: number,
): Record<(typeof ELEMENTWISE_FIELDS)[number], number> {
  const [o, a, b = [0, 0, 0, 0]] = nest.strides;
  const [, n1, n2, n3] = nest.dims;
  return {
    out,
    x,
    y,
    n1,
    n2,
    n3,
    out0: o[0],
    out1: o[1],
    out2: o[2],
    out3: o[3],
    x0: a[0],
    x1: a[1],
    x2: a[2],
    x3: a[3],
    y0: b[0],
    y1: b[1],
    y2: b[2],
    y3: b[3],
  };
}

/** A contiguous target for a fresh array of `shape`. */
function whole(array: HeapArray, shape: Shape): Target {
  return { array, shape, strides: contiguousStrides(shape), offset: 0 };
}

/** out = op(x) for a float32 view (op: a key of UNARY_WAT), or null. */
export function unaryF32(op: string, x: View): HeapArray | null {
  const out = allocate("float32", sizeOf(x.shape));
  if (out === null) return null;
  if (elementwise(`unary_${op}`, whole(out, x.shape), [x])) return out;
  wasmRuntime().heap.release(out);
  return null;
}

/** out = op(a, b) for float32 views of one shape (op: a key of BINARY_WAT), or null. */
export function binaryF32(op: string, a: View, b: View): HeapArray | null {
  const out = allocate("float32", sizeOf(a.shape));
  if (out === null) return null;
  if (elementwise(`binary_${op}`, whole(out, a.shape), [a, b])) return out;
  wasmRuntime().heap.release(out);
  return null;
}

/** Copies view `x` into `target` (same shape and dtype); false if the kernel cannot. */
export function copyInto(target: Target, x: View): boolean {
  if (x.dtype === "float64") return false;
  return elementwise(x.dtype === "bool" ? "copy_1" : "copy_4", target, [x]);
}

/** A contiguous heap copy of a view (same dtype), or null. */
export function contiguousCopy(x: View): HeapArray | null {
  if (x.dtype === "float64") return null;
  const out = allocate(x.dtype, sizeOf(x.shape));
  if (out === null) return null;
  if (copyInto(whole(out, x.shape), x)) return out;
  wasmRuntime().heap.release(out);
  return null;
}

/**
 * The heap address of a dense copy of `x` (x itself where it already is dense), with the
 * temporaries to release after the kernel; null if x cannot be placed in the heap.
 */
function denseAddress(x: View, temporaries: HeapArray[]): number | null {
  if (isDense(x)) return address(x);
  const copy = contiguousCopy(x);
  if (copy === null) return null;
  temporaries.push(copy);
  return copy.byteOffset;
}

/** Runs `body` with dense addresses of `views` (null entries stay 0); releases copies after. */
export function withDense<T>(
  views: readonly (View | null)[],
  body: (pointers: number[]) => T,
): T | null {
  const temporaries: HeapArray[] = [];
  try {
    const pointers: number[] = [];
    for (const v of views) {
      if (v === null) {
        pointers.push(0);
        continue;
      }
      const p = denseAddress(v, temporaries);
      if (p === null) return null;
      pointers.push(p);
    }
    return body(pointers);
  } finally {
    for (const t of temporaries) wasmRuntime().heap.release(t);
  }
}

/**
 * A reduction (see Backend.reduce) of the last `count` axes of a float32 view: sum
 * (accumulated in float64), max, min (float32 results), argmax, argmin (int32); or null.
 */
export function reduceF32(op: ReduceOp, x: View, count: number): HeapArray | null {
  const base = address(x);
  if (base === null) return null;
  const out = reduceAt(op, base, x.shape, x.strides, count);
  if (out !== null) return out;
  // Reduced axes that do not merge into one (or outer axes into three): reduce a copy.
  const copy = contiguousCopy(x);
  if (copy === null) return null;
  try {
    return reduceAt(op, copy.byteOffset, x.shape, contiguousStrides(x.shape), count);
  } finally {
    wasmRuntime().heap.release(copy);
  }
}

/** The reduction kernels on a float32 layout (address, shape, strides); null if it does not fit. */
function reduceAt(
  op: ReduceOp,
  base: number,
  shape: Shape,
  strides: readonly number[],
  count: number,
): HeapArray | null {
  const split = shape.length - count;
  const outerShape = shape.slice(0, split);
  const inner = collapse(shape.slice(split), [strides.slice(split)], 1);
  const outer = collapse(outerShape, [strides.slice(0, split)], 3);
  if (inner === null || outer === null) return null;
  const outputs = sizeOf(outerShape);
  const out = allocate(op.startsWith("arg") ? "int32" : "float32", outputs);
  if (out === null) return null;
  const length = inner.dims[0];
  const stride = inner.strides[0][0];
  const parallel = outputs * length >= cpuTuning.minParallelRowElements;
  // One outer axis of stride 1 and a strided reduced axis: the column sums of a matrix.
  const columns = op === "sum" && outer.dims[0] === 1 && outer.dims[1] === 1 &&
    outer.strides[0][2] === 1 && stride !== 1;
  wasmRuntime().setParams(REDUCE, {
    out: out.byteOffset,
    x: base,
    count: length,
    stride,
    n1: outer.dims[1],
    n2: outer.dims[2],
    x0: outer.strides[0][0],
    x1: outer.strides[0][1],
    x2: outer.strides[0][2],
  });
  run(columns ? "sum_columns" : `${op}_rows`, outputs, columns ? 8 : 1, parallel);
  return out;
}

/** A row kernel (layer_norm, layer_norm_grad, softmax, softmax_grad) over x's rows; or null. */
export function rowKernel(
  name: string,
  x: View,
  g: View | null,
  weight: View | null,
  bias: View | null,
  eps = 0,
): HeapArray | null {
  const d = x.shape[x.shape.length - 1];
  const size = sizeOf(x.shape);
  const out = allocate("float32", size);
  if (out === null) return null;
  const result = withDense([x, g, weight, bias], ([px, pg, pw, pb]) => {
    wasmRuntime().setParams(ROWS, { out: out.byteOffset, x: px, g: pg, weight: pw, bias: pb, d }, {
      eps,
    });
    if (d > 0) run(name, size / d, 1, size >= cpuTuning.minParallelRowElements);
    return out;
  });
  if (result === null) wasmRuntime().heap.release(out);
  return result;
}

/** The fused AdamW step (see Backend.adamStep) on float32 views; or null. */
export function adamF32(g: View, m: View, v: View, p: View, c: AdamConstants): HeapArray | null {
  const n = sizeOf(g.shape);
  const out = allocate("float32", 3 * n);
  if (out === null) return null;
  const result = withDense([g, m, v, p], ([pg, pm, pv, pp]) => {
    wasmRuntime().setParams(ADAM, { out: out.byteOffset, g: pg, m: pm, v: pv, p: pp, n }, {
      b1: c.b1,
      b2: c.b2,
      oneMinusB1: 1 - c.b1,
      oneMinusB2: 1 - c.b2,
      c1: c.c1,
      c2: c.c2,
      eps: c.eps,
      lr: c.learningRate,
      wd: c.weightDecay,
    });
    run("adam_step", n, 64, n >= cpuTuning.minParallelElements);
    return out;
  });
  if (result === null) wasmRuntime().heap.release(out);
  return result;
}
