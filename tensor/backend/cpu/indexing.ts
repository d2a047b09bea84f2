// CPU kernels that move elements by index: gather, scatterAdd, concat and unslice.
//
// A trick used throughout: to visit "the same position in x, except along `axis`", walk
// x's strides with the stride of `axis` set to 0, then add `index · stride[axis]`.

import { allocArray, type TypedArray } from "../../dtype.ts";
import { contiguousStrides, type Shape, sizeOf } from "../../shape.ts";
import type { View } from "../../tensor.ts";
import { arrayOf, elementOffsets, readView } from "./strided.ts";
import { forEachRow } from "./elementwise.ts";

/** Maps an index into [0, size), allowing NumPy-style negative indices; throws otherwise. */
function checkIndex(i: number, size: number, op: string, axis: number): number {
  const j = i < 0 ? i + size : i;
  if (j < 0 || j >= size) {
    throw new RangeError(
      `Cannot ${op}: index ${i} is out of range for axis ${axis} of size ${size}`,
    );
  }
  return j;
}

/** Storage offsets for positions of `shape` in view `x`, ignoring `axis`. */
function offsetsWithoutAxis(x: View, shape: Shape, axis: number): Int32Array {
  const strides = x.strides.map((s, d) => (d === axis ? 0 : s));
  return elementOffsets(shape, strides, x.offset);
}

/** `out[p] = x[p with p[axis] := index[p]]`, out shaped like `index`. */
export function gather(x: View, index: View, axis: number): TypedArray {
  const src = arrayOf(x);
  const idx = readView(index);
  const base = offsetsWithoutAxis(x, index.shape, axis);
  const size = x.shape[axis];
  const stride = x.strides[axis];
  const out = allocArray(x.dtype, idx.length);
  for (let i = 0; i < idx.length; i++) {
    out[i] = src[base[i] + checkIndex(idx[i], size, "gather", axis) * stride];
  }
  return out;
}

/** A contiguous copy of `x` with `updates[p]` added at `p with p[axis] := index[p]`. */
export function scatterAdd(x: View, index: View, updates: View, axis: number): TypedArray {
  const out = readView(x);
  const idx = readView(index);
  const upd = readView(updates);
  const outStrides = contiguousStrides(x.shape);
  const base = elementOffsets(index.shape, outStrides.map((s, d) => (d === axis ? 0 : s)), 0);
  const size = x.shape[axis];
  for (let i = 0; i < idx.length; i++) {
    out[base[i] + checkIndex(idx[i], size, "scatterAdd", axis) * outStrides[axis]] += upd[i];
  }
  return out;
}

/** Joins views along `axis`: each input fills its slab of the output. */
export function concat(xs: readonly View[], axis: number, outShape: Shape): TypedArray {
  const out = allocArray(xs[0].dtype, sizeOf(outShape));
  const outStrides = contiguousStrides(outShape);
  let start = 0;
  for (const x of xs) {
    copyInto(out, { shape: x.shape, strides: outStrides, offset: start * outStrides[axis] }, x);
    start += x.shape[axis];
  }
  return out;
}

/** Writes view x into `out` at the positions of `target` (a layout of out with x's shape). */
function copyInto(
  out: TypedArray,
  target: { shape: Shape; strides: readonly number[]; offset: number },
  x: View,
): void {
  const src = arrayOf(x);
  const to = { ...target, storage: x.storage, dtype: x.dtype } as View;
  forEachRow([x, to], (_o, [ix, io], n, [sx, so]) => {
    for (let i = 0; i < n; i++, ix += sx, io += so) out[io] = src[ix];
  });
}

/** Zeros of `outShape` with `x` written at `starts[d] + i·steps[d]` along each axis. */
export function unslice(
  x: View,
  outShape: Shape,
  starts: readonly number[],
  steps: readonly number[],
): TypedArray {
  const out = allocArray(x.dtype, sizeOf(outShape));
  const outStrides = contiguousStrides(outShape);
  let base = 0;
  for (let d = 0; d < outShape.length; d++) base += starts[d] * outStrides[d];
  copyInto(
    out,
    { shape: x.shape, strides: outStrides.map((s, d) => s * steps[d]), offset: base },
    x,
  );
  return out;
}
